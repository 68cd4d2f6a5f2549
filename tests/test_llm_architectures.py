"""Qwen2 and Qwen3 in-process against transformers, on tiny random models: the test writes
each as a GGUF file (float32 weights, the first 2,048 tokens of SmolLM2's byte-level BPE
vocabulary) with the ``gguf`` package's writer, then compares the logits of
``LLM.next_logits`` and greedy continuations with transformers' run of the same file.

SentencePiece vocabularies (Llama 2, Mistral 7B): the test trains a SentencePiece BPE model
with byte fallback on SQuAD paragraphs, writes it into a tiny llama GGUF as llama.cpp's
converter does (pieces, scores, token types), and compares ragplay's token ids with
SentencePiece's own and with transformers' tokenizer of the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llm_reference import smollm2_gguf

import ragplay
from conftest import collection

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, LAYERS, FFN = 64, 4, 2, 16, 2, 128
VOCAB = 2048


def smollm2_vocabulary(w) -> int:
    """The first VOCAB tokens of SmolLM2's byte-level BPE (specials and bytes first) and the
    merges among them: a small vocabulary keeps the files small and quick to load."""
    from gguf import GGUFReader

    reader = GGUFReader(smollm2_gguf())

    def field(name: str) -> list:
        f = reader.fields[name]
        return [f.parts[i] for i in f.data]

    tokens = [bytes(p).decode() for p in field("tokenizer.ggml.tokens")][:VOCAB]
    kept = set(tokens)
    merges = [
        m
        for m in (bytes(p).decode() for p in field("tokenizer.ggml.merges"))
        if all(t in kept for t in m.split(" ")) and m.replace(" ", "") in kept
    ]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types([int(p[0]) for p in field("tokenizer.ggml.token_type")][:VOCAB])
    w.add_bos_token_id(int(field("tokenizer.ggml.bos_token_id")[0][0]))
    w.add_eos_token_id(int(field("tokenizer.ggml.eos_token_id")[0][0]))
    return len(tokens)


def write_tiny_gguf(path: Path, arch: str, vocabulary=smollm2_vocabulary) -> None:
    """A random `arch` model, as llama.cpp names its tensors; `vocabulary(writer)` writes the
    tokenizer and returns the vocabulary's size."""
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), arch)
    w.add_name(f"tiny-random-{arch}")
    w.add_context_length(256)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(HEAD_DIM)
    n_vocab = vocabulary(w)
    rng = np.random.default_rng(0)

    def normal(name: str, *shape: int, scale: float = 0.08) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    def norm(name: str, n: int) -> None:
        w.add_tensor(name, (1 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    normal("token_embd.weight", n_vocab, HIDDEN, scale=0.5)
    norm("output_norm.weight", HIDDEN)
    normal("output.weight", n_vocab, HIDDEN, scale=0.2)
    for i in range(LAYERS):
        b = f"blk.{i}"
        norm(f"{b}.attn_norm.weight", HIDDEN)
        norm(f"{b}.ffn_norm.weight", HIDDEN)
        normal(f"{b}.attn_q.weight", HEADS * HEAD_DIM, HIDDEN)
        normal(f"{b}.attn_k.weight", KV_HEADS * HEAD_DIM, HIDDEN)
        normal(f"{b}.attn_v.weight", KV_HEADS * HEAD_DIM, HIDDEN)
        normal(f"{b}.attn_output.weight", HIDDEN, HEADS * HEAD_DIM)
        if arch == "qwen2":  # biases on q, k, v
            normal(f"{b}.attn_q.bias", HEADS * HEAD_DIM)
            normal(f"{b}.attn_k.bias", KV_HEADS * HEAD_DIM)
            normal(f"{b}.attn_v.bias", KV_HEADS * HEAD_DIM)
        elif arch == "qwen3":  # RMS norms on each head's q and k
            norm(f"{b}.attn_q_norm.weight", HEAD_DIM)
            norm(f"{b}.attn_k_norm.weight", HEAD_DIM)
        normal(f"{b}.ffn_gate.weight", FFN, HIDDEN)
        normal(f"{b}.ffn_up.weight", FFN, HIDDEN)
        normal(f"{b}.ffn_down.weight", HIDDEN, FFN)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module", params=["qwen2", "qwen3"])
def tiny(request, tmp_path_factory):
    """(ragplay's model, transformers' model) of one tiny random GGUF."""
    import torch
    from transformers import AutoModelForCausalLM

    arch = request.param
    folder = tmp_path_factory.mktemp(arch)
    write_tiny_gguf(folder / f"{arch}.gguf", arch)
    # transformers reads no head size from a GGUF; Qwen3's default (128) is not this model's.
    extra = {"head_dim": HEAD_DIM} if arch == "qwen3" else {}
    ref = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=f"{arch}.gguf", dtype=torch.float32, **extra
    )
    ref.eval()
    return ragplay.LLM.gguf(folder / f"{arch}.gguf"), ref, arch


def test_logits_and_greedy_continuations_equal_transformers(tiny) -> None:
    import torch

    ours, ref, arch = tiny
    assert ours.architecture == arch
    rng = np.random.default_rng(1)
    prompts = [[int(x) for x in rng.integers(0, VOCAB, n)] for n in (1, 2, 9, 40, 130)]
    worst = 0.0
    for ids in prompts:
        with torch.no_grad():
            want = ref(torch.tensor([ids])).logits[0, -1].numpy()
        got = np.asarray(ours.next_logits(ids))
        worst = max(worst, float(np.abs(got - want).max()))
        assert int(got.argmax()) == int(want.argmax())
    assert worst < 1e-4, worst
    # Greedy decoding through the KV cache, up to 12 new tokens; both stop at the model's
    # end-of-sequence token, which ragplay leaves out of the ids it returns.
    stops = list(ours.stop_token_ids)
    continued = ours.generate_tokens(prompts[:3], max_tokens=12)
    for ids, got in zip(prompts[:3], continued):
        with torch.no_grad():
            out = ref.generate(
                torch.tensor([ids]),
                max_new_tokens=12,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=stops[0],
            )
        want = out[0, len(ids) :].tolist()
        if want and want[-1] in stops:
            want = want[:-1]
        assert list(got) == want


@pytest.fixture(scope="module")
def sentencepiece_llama(tmp_path_factory):
    """(ragplay's model, the SentencePiece processor, the folder) of a tiny llama GGUF with a
    SentencePiece BPE vocabulary trained on SQuAD paragraphs, as Llama 2's is configured:
    byte fallback, digits split, a dummy prefix, no normalisation."""
    import io

    import sentencepiece as spm

    paragraphs = collection("squad-dev").corpus["text"].head(1500).to_list()
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(paragraphs),
        model_writer=proto,
        model_type="bpe",
        vocab_size=1200,
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        character_coverage=0.9995,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        num_threads=2,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=proto.getvalue())

    def vocabulary(w) -> int:
        n = sp.get_piece_size()

        # llama.cpp's token types: 1 normal, 2 unknown, 3 control, 5 unused, 6 byte.
        def kind(i: int) -> int:
            if sp.is_unknown(i):
                return 2
            if sp.is_control(i):
                return 3
            if sp.is_unused(i):
                return 5
            return 6 if sp.is_byte(i) else 1

        w.add_tokenizer_model("llama")
        w.add_token_list([sp.id_to_piece(i) for i in range(n)])
        w.add_token_scores([sp.get_score(i) for i in range(n)])
        w.add_token_types([kind(i) for i in range(n)])
        w.add_unk_token_id(0)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        return n

    folder = tmp_path_factory.mktemp("sentencepiece")
    write_tiny_gguf(folder / "llama.gguf", "llama", vocabulary)
    return ragplay.LLM.gguf(folder / "llama.gguf"), sp, folder


def test_a_sentencepiece_vocabulary_tokenizes_as_sentencepiece_and_transformers(
    sentencepiece_llama,
) -> None:
    from test_llm import EDGE_CASES
    from transformers import AutoTokenizer

    ours, sp, folder = sentencepiece_llama
    questions = collection("squad-dev").queries["text"].head(1000).to_list()
    # SentencePiece reads "<s>" in a text as text; a chat prompt's special tokens are matched
    # whole (as transformers does), so the look-alikes are compared with transformers only.
    plain = questions + [t for t in EDGE_CASES if "<" not in t]
    got = ours.tokenize(plain)
    want = [sp.encode(t) for t in plain]
    differ = [t for t, g, w in zip(plain, got, want) if list(g) != w]
    assert not differ, differ[:5]
    for ids in got:
        assert ours.detokenize(ids) == sp.decode(ids)
    # transformers' tokenizer of the file adds no dummy prefix before a text that starts with
    # a space (" x": "▁", "x" where SentencePiece, and llama.cpp, give "▁", "▁", "x"); those
    # texts are SentencePiece's to judge, above.
    ref = AutoTokenizer.from_pretrained(folder, gguf_file="llama.gguf")
    texts = [t for t in plain if not t.startswith(" ")] + [t for t in EDGE_CASES if "<" in t]
    got = ours.tokenize(texts)
    want = [ref(t, add_special_tokens=False)["input_ids"] for t in texts]
    differ = [t for t, g, w in zip(texts, got, want) if list(g) != w]
    assert not differ, differ[:5]
