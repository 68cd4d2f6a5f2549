"""In-process language models against transformers: the tokenizer on SQuAD and Unicode edge
cases, the chat template, first-step logits and greedy continuations of SmolLM2-135M; seeded
sampling; the response cache; the answers table; bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
from llm_reference import reference_model, reference_tokenizer, smollm2_gguf

import ragplay
from conftest import collection

EDGE_CASES = [
    "",
    " ",
    "  leading spaces",
    "trailing spaces   ",
    "\ttabs\tand\nnewlines\r\n",
    "emoji 😀👍🏽 and flags 🇫🇷🇯🇵",
    "family 👨‍👩‍👧‍👦 joined by zero-width joiners",
    "combining marks: e\u0301 a\u0308 n\u0303 (decomposed) vs é ä ñ",
    "中文分词测试，日本語のテキスト、한국어 문장",
    "Ελληνικά, русский, עברית, العربية",
    "special look-alikes: <|im_start|> <|im_end|> <|endoftext|> <im_start> <|im_start",
    "<|im_start|>user\nhi<|im_end|>",
    "digits 1234567890 and 3.14159, 1,000,000 and x  99",
    "code: def f(x):\n    return x ** 2  # square",
    "URLs https://example.com/a?b=c&d=e#f and emails a.b@c.org",
    "apostrophes: don't, I'm, we'll, they've, it's, O'Neil",
    "\u00a0non-breaking\u2009thin\u200bzero-width spaces",
    "ＦＵＬＬＷＩＤＴＨ letters and ｶﾀｶﾅ",
    "math: ∑ x² ≤ ∞, ∀ε>0 ∃δ",
    "a" * 300,
]


@pytest.fixture(scope="module")
def llm() -> ragplay.LLM:
    return ragplay.LLM.gguf(smollm2_gguf())


@pytest.fixture(scope="module")
def ref_tokenizer():
    return reference_tokenizer()


@pytest.fixture(scope="module")
def ref_model():
    return reference_model()


@pytest.fixture(scope="module")
def squad() -> ragplay.Collection:
    return collection("squad-dev")


def test_token_ids_equal_the_reference_on_squad_and_unicode_edge_cases(llm, ref_tokenizer, squad):
    questions = squad.queries["text"].to_list()[:700]
    passages = squad.corpus["text"].to_list()[:300]
    texts = questions + passages + EDGE_CASES
    assert len(texts) >= 1000
    ours = llm.tokenize(texts)
    ref = [ref_tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    bad = [(t, o, r) for t, o, r in zip(texts, ours, ref) if o != r]
    assert not bad, bad[:3]
    # Decoding gives the text back (byte-level BPE is lossless).
    assert [llm.detokenize(ids) for ids in ours] == texts


def test_the_chat_prompt_equals_apply_chat_template(llm, ref_tokenizer):
    chats = [
        "What is the capital of France?",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3? 😀"},
        ],
    ]
    for chat in chats:
        messages = [{"role": "user", "content": chat}] if isinstance(chat, str) else chat
        for gen in (True, False):
            ref = ref_tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=gen
            )
            assert llm.chat_prompt(chat, add_generation_prompt=gen) == ref
    ref_ids = ref_tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert llm.tokenize([llm.chat_prompt("Hi")])[0] == list(ref_ids)


@pytest.fixture(scope="module")
def prompts(llm, squad) -> list[list[int]]:
    """50 SQuAD questions as chat prompts, in token ids."""
    questions = squad.queries["text"].to_list()[::200][:50]
    return llm.tokenize([llm.chat_prompt(q) for q in questions])


def test_first_step_logits_agree_with_transformers(llm, ref_model, prompts):
    import torch

    worst = 0.0
    agree = 0
    for ids in prompts:
        with torch.no_grad():
            ref = ref_model(torch.tensor([ids])).logits[0, -1].numpy()
        ours = llm.next_logits(ids)
        diff = float(np.abs(ours - ref).max())
        worst = max(worst, diff)
        if int(ours.argmax()) == int(ref.argmax()):
            agree += 1
        else:
            top2 = np.sort(ref)[-2:]
            assert top2[1] - top2[0] <= diff, (ids, diff, top2)
    print(f"largest logit difference {worst:.2e}; top-1 agreement {agree}/50")
    assert agree >= 48
    assert worst < 1e-2


def test_greedy_continuations_equal_transformers(llm, ref_model, prompts):
    """transformers decodes the 50 prompts in batches of 10, left-padded and masked."""
    import torch

    refs = []
    for start in range(0, len(prompts), 10):
        batch = prompts[start : start + 10]
        width = max(len(ids) for ids in batch)
        ids = torch.tensor([[2] * (width - len(i)) + i for i in batch])
        mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in batch])
        with torch.no_grad():
            out = ref_model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=32,
                do_sample=False,
                eos_token_id=llm.stop_token_ids,
                pad_token_id=2,
            )
        for row in out[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in llm.stop_token_ids), len(row))
            refs.append(row[:cut])
    ours = llm.generate_tokens(prompts, max_tokens=32)
    same = sum(o == r for o, r in zip(ours, refs))
    firsts = [
        next(i for i, (a, b) in enumerate(zip(o + [-1], r + [-2])) if a != b)
        for o, r in zip(ours, refs)
        if o != r
    ]
    print(f"identical greedy continuations: {same}/50; first differences at {firsts}")
    assert same >= 45


def test_seeded_sampling_repeats_on_every_run_and_thread_count(llm, prompts):
    knobs = dict(max_tokens=24, temperature=0.9, top_p=0.95, top_k=50, seed=11)
    first = llm.generate_tokens(prompts[:1], **knobs)[0]
    assert llm.generate_tokens(prompts[:1], **knobs)[0] == first
    assert llm.generate_tokens(prompts[:1], **{**knobs, "seed": 12})[0] != first
    script = textwrap.dedent(
        f"""
        import json, ragplay
        llm = ragplay.LLM.gguf({str(smollm2_gguf())!r})
        print(json.dumps(llm.generate_tokens([{prompts[0]!r}], **{knobs!r})[0]))
        """
    )
    for threads in ("1", "2"):
        env = {**os.environ, "RAYON_NUM_THREADS": threads}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == first, threads


@pytest.fixture(scope="module")
def small_squad(squad):
    """8 SQuAD questions and a BM25 run over the paragraphs."""
    queries = squad.queries.head(8)
    bm25 = ragplay.BM25()
    bm25.index(squad.corpus, show_progress=False)
    return queries, bm25.search(queries, k=10, show_progress=False), squad.corpus


def test_generate_puts_the_top_documents_in_the_prompt(llm, ref_tokenizer, small_squad):
    queries, run, corpus = small_squad
    queries = queries.head(4)
    prompt = ragplay.Prompt(system=None, user="{context}\n\nQ: {question}")
    answers = ragplay.generate(
        run, queries, corpus, llm, prompt=prompt, context_k=3, max_tokens=8, show_progress=False
    )
    assert answers["query_id"].to_list() == queries["query_id"].to_list()
    texts = dict(zip(corpus["doc_id"], zip(corpus["title"], corpus["text"])))
    ranked = run.sort(["query_id", "score", "doc_id"], descending=[False, True, True])
    for row, question in zip(answers.iter_rows(named=True), queries["text"]):
        top = ranked.filter(pl.col("query_id") == row["query_id"])["doc_id"].head(3).to_list()
        assert row["context_doc_ids"] == top
        context = "\n\n".join(
            f"[{n}] {' '.join(x for x in texts[d] if x)}" for n, d in enumerate(top, 1)
        )
        messages = [{"role": "user", "content": f"{context}\n\nQ: {question}"}]
        ids = ref_tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True
        )["input_ids"]
        assert row["prompt_tokens"] == len(ids)
        assert row["failure"] is None and row["finish_reason"] in ("stop", "length")
        assert row["cost_usd"] == pytest.approx(
            len(ids) * 0.15 / 1e6 + row["completion_tokens"] * 0.60 / 1e6
        )
    # The answers are those of the same messages sent through LLM.complete.
    again = llm.complete(
        [
            prompt.messages(q, c)
            for q, c in zip(
                queries["text"],
                [
                    "\n\n".join(
                        f"[{n}] {' '.join(x for x in texts[d] if x)}" for n, d in enumerate(ids, 1)
                    )
                    for ids in answers["context_doc_ids"]
                ],
            )
        ],
        max_tokens=8,
        show_progress=False,
    )
    assert again["answer"].to_list() == answers["answer"].to_list()


def test_context_orders_and_budgets(llm, ref_tokenizer, small_squad):
    queries, run, corpus = small_squad
    q = queries.head(2)
    # Short passages keep the prompts small; the order does not depend on their length.
    short = dict(context_k=5, passage_tokens=24, max_tokens=1, show_progress=False)
    ranked = ragplay.generate(run, q, corpus, llm, **short)
    ends = ragplay.generate(run, q, corpus, llm, context_order="ends", **short)
    rev = ragplay.generate(run, q, corpus, llm, context_order="reversed", **short)
    for a, e, r in zip(ranked["context_doc_ids"], ends["context_doc_ids"], rev["context_doc_ids"]):
        assert e.to_list() == [a[0], a[2], a[4], a[3], a[1]]
        assert r.to_list() == a.to_list()[::-1]
    cut = ragplay.generate(
        run,
        q,
        corpus,
        llm,
        context_k=5,
        passage_tokens=20,
        context_tokens=70,
        max_tokens=1,
        prompt=ragplay.Prompt(system=None, user="{context}"),
        show_progress=False,
    )
    for row in cut.iter_rows(named=True):
        # Each passage is cut to 20 tokens, so at most three numbered passages fit in 70.
        assert 1 <= len(row["context_doc_ids"]) <= 3
        assert row["passages_truncated"] >= 1


def test_a_second_generate_is_served_from_the_cache(llm, small_squad, tmp_path):
    queries, run, corpus = small_squad
    q = queries.head(4)
    cache = ragplay.ResponseCache(tmp_path / "answers")
    base = dict(max_tokens=6, context_k=2, passage_tokens=32, cache=cache, show_progress=False)
    first = ragplay.generate(run, q, corpus, llm, **base)
    assert cache.stats["written"] == 4 and not first["cached"].any()
    second = ragplay.generate(run, q, corpus, llm, **base)
    assert cache.stats["hits"] == 4 and cache.stats["written"] == 4
    assert second["cached"].all()
    cols = ["query_id", "answer", "context_doc_ids", "prompt_tokens", "completion_tokens"]
    assert second.select(cols).equals(first.select(cols))
    # Anything that changes an answer misses: the prompt text, each knob, the model.
    changes = [
        dict(prompt=ragplay.Prompt(user="{context}\nQuestion: {question}")),
        dict(max_tokens=7),
        dict(temperature=0.5),
        dict(top_p=0.9, temperature=0.5),
        dict(top_k=5, temperature=0.5),
        dict(repetition_penalty=1.1),
        dict(seed=1, temperature=0.5),
        dict(stop=["."]),
        dict(context_k=3),
    ]
    for change in changes:
        before = cache.stats["misses"]
        ragplay.generate(run, q.head(1), corpus, llm, **{**base, **change})
        assert cache.stats["misses"] == before + 1, change


def test_two_processes_writing_one_cache_lose_nothing(small_squad, tmp_path):
    queries, run, corpus = small_squad
    folder = tmp_path / "shared-cache"
    run.write_parquet(tmp_path / "run.parquet")
    queries.head(4).write_parquet(tmp_path / "queries.parquet")
    corpus.write_parquet(tmp_path / "corpus.parquet")
    script = textwrap.dedent(
        f"""
        import polars as pl, ragplay
        t = {str(tmp_path)!r}
        llm = ragplay.LLM.gguf({str(smollm2_gguf())!r})
        out = ragplay.generate(pl.read_parquet(t + "/run.parquet"),
            pl.read_parquet(t + "/queries.parquet"), pl.read_parquet(t + "/corpus.parquet"),
            llm, max_tokens=4, context_k=2, cache={str(folder)!r}, show_progress=False)
        print(out["answer"].to_list())
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate()[0] for p in procs]
    assert all(p.returncode == 0 for p in procs) and outs[0] == outs[1]
    files = sorted(folder.rglob("*.json"))
    assert len(files) == 4
    assert all(json.loads(f.read_text())["text"] is not None for f in files)


def test_bad_input(llm, small_squad, tmp_path):
    queries, run, corpus = small_squad
    with pytest.raises(ragplay.ModelError, match="not found"):
        ragplay.LLM.gguf(tmp_path / "missing.gguf")
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    with pytest.raises(ragplay.ModelError, match="not a GGUF file"):
        ragplay.LLM.gguf(fake)
    import gguf

    writer = gguf.GGUFWriter(tmp_path / "falcon.gguf", "falcon")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ragplay.ModelError, match='architecture "falcon" is not supported'):
        ragplay.LLM.gguf(tmp_path / "falcon.gguf")
    with pytest.raises(ragplay.ConfigError, match=r"\{docs\}"):
        ragplay.Prompt(user="{question} {docs}")
    with pytest.raises(ragplay.ConfigError, match="max_tokens"):
        ragplay.generate(run, queries, corpus, llm, max_tokens=-1)
    with pytest.raises(ragplay.ConfigError, match="max_tokens"):
        llm.complete(["hi"], max_tokens=0)
    with pytest.raises(ragplay.DataError, match="the run is empty"):
        ragplay.generate(run.head(0), queries, corpus, llm)
    # A query without retrieved documents is a row with its cause, not a missing row.
    no_docs = run.filter(pl.col("query_id") != queries["query_id"][0])
    out = ragplay.generate(no_docs, queries.head(2), corpus, llm, max_tokens=4, show_progress=False)
    assert out.height == 2
    assert out["failure"].to_list() == ["no_context", None]
    assert out["answer"][0] is None and "no retrieved documents" in out["error"][0]
    # A prompt longer than the context is a failed row (never a silent truncation).
    long = llm.complete(["word " * 5000, "hi"], max_tokens=4, show_progress=False)
    assert long["failure"].to_list() == ["context", None]
    assert "context holds 4096" in long["error"][0]
    assert long["prompt_tokens"][0] > 4096


def test_a_pipeline_answers_as_generate_does_by_hand(llm, squad):
    queries = squad.queries.head(3)
    prompt = ragplay.Prompt(system=None, user="{context}\n\nQ: {question}")
    knobs = dict(prompt=prompt, context_k=2, passage_tokens=48, max_tokens=6)
    pipeline = ragplay.Pipeline(
        [ragplay.BM25()], generate=ragplay.Generation(llm, **knobs), depth=10
    )
    pipeline.index(squad.corpus, show_progress=False)
    assert pipeline.stages == ["bm25", "generate"]
    run = pipeline.search(queries, k=10, show_progress=False)
    by_hand = ragplay.generate(run, queries, squad.corpus, llm, **knobs, show_progress=False)
    cols = ["query_id", "answer", "context_doc_ids", "prompt_tokens", "completion_tokens"]
    assert by_hand["failure"].is_null().all()
    answers = pipeline.answer(queries, show_progress=False)
    assert answers.select(cols).equals(by_hand.select(cols))
    # The trace times the generation stage and marks the documents each prompt held.
    trace = pipeline.trace(queries, k=10, show_progress=False)
    assert trace.answers.select(cols).equals(by_hand.select(cols))
    assert trace.latency["stage"].to_list() == ["bm25", "generate", "total"]
    assert trace.run.select("query_id", "doc_id").equals(run.select("query_id", "doc_id"))
    held = trace.candidates.filter(pl.col("generate_rank").is_not_null())
    for row in by_hand.iter_rows(named=True):
        docs = held.filter(pl.col("query_id") == row["query_id"]).sort("generate_rank")
        assert docs["doc_id"].to_list() == row["context_doc_ids"]
    # Under a token budget a prompt holds fewer than context_k documents: only those are
    # marked (two passages of 48 tokens exceed 60).
    budget = dict(knobs, context_k=3, context_tokens=60, max_tokens=2)
    tight = ragplay.Pipeline([ragplay.BM25()], generate=ragplay.Generation(llm, **budget), depth=10)
    tight.index(squad.corpus, show_progress=False)
    traced = tight.trace(queries, k=10, show_progress=False)
    for row in traced.answers.iter_rows(named=True):
        assert 1 <= len(row["context_doc_ids"]) < 3
        marked = traced.candidates.filter(
            (pl.col("query_id") == row["query_id"]) & pl.col("generate_rank").is_not_null()
        )
        assert sorted(marked["doc_id"]) == sorted(row["context_doc_ids"])
    # The configuration names the model, prompt and context, so sweeps tell them apart.
    config = pipeline.config()
    assert config["generate"]["fingerprint"] == llm.fingerprint
    assert config["generate"]["prompt"]["user"] == prompt.user
    assert config["generate"]["context"]["context_k"] == 2
    assert "generate" not in ragplay.Pipeline([ragplay.BM25()]).config()
    with pytest.raises(ragplay.ConfigError, match="no generation stage"):
        ragplay.Pipeline([ragplay.BM25()]).answer(queries)
    with pytest.raises(ragplay.ConfigError, match="context_k"):
        ragplay.Pipeline([ragplay.BM25()], generate=ragplay.Generation(llm, context_k=20), depth=10)


def test_a_sweep_answers_each_prompt_and_context_size_as_generate_does(llm, squad, tmp_path):
    queries = squad.queries.head(12)
    qrels = squad.qrels.filter(pl.col("query_id").is_in(queries["query_id"].implode()))
    small = ragplay.Collection(squad.corpus, queries, qrels)
    short = {"system": None, "user": "{context}\n\nQ: {question}"}
    retrieval = {
        "metrics": ["ndcg@10"],
        "k": 10,
        "mode": "grid",
        "n_resamples": 200,
        "retrievers": {"bm25": {"kind": "bm25"}},
    }
    experiment = {
        **retrieval,
        # The packaged model by name, found through the package as LLM.gguf finds it.
        "llms": {
            "smol": {
                "kind": "gguf",
                "model": "SmolLM2-135M-Instruct",
                "prices": {"prompt": 1.0, "completion": 3.0},
            }
        },
        "prompts": {"short": short},
        "generation": {"max_tokens": 6, "max_queries": 3, "passage_tokens": 48},
        "grid": {"llm": ["none", "smol"], "prompt": ["default", "short"], "context_k": [1, 2]},
    }
    store = tmp_path / "store"
    result = ragplay.sweep(small, experiment, store=store, show_progress=False)
    table = result.results
    # Without a model, prompt and context size normalise away: 1 + 2 x 2 configurations.
    assert table.height == 5
    base = ragplay.Experiment({**retrieval, "grid": {}}).configurations()["config_id"][0]
    assert result.baseline == base
    answering = table.filter(pl.col("llm").is_not_null())
    assert sorted(zip(answering["prompt"], answering["context_k"])) == [
        ("default", 1),
        ("default", 2),
        ("short", 1),
        ("short", 2),
    ]
    cols = ["query_id", "answer", "context_doc_ids", "prompt_tokens", "completion_tokens"]
    prompts = {"default": None, "short": ragplay.Prompt(**short)}
    for row in answering.iter_rows(named=True):
        run = result.run(row["config_id"])
        # One retrieval, searched once, under every prompt and context size.
        assert run.equals(result.run(base))
        assert row["ndcg@10"] == table.filter(pl.col("config_id") == base)["ndcg@10"][0]
        answers = result.answers(row["config_id"])
        by_hand = ragplay.generate(
            run,
            queries.head(3),
            squad.corpus,
            llm,
            prompt=prompts[row["prompt"]],
            context_k=row["context_k"],
            passage_tokens=48,
            max_tokens=6,
            show_progress=False,
        )
        assert answers.select(cols).equals(by_hand.select(cols))
        assert answers["failure"].is_null().all()
        assert [len(ids) for ids in answers["context_doc_ids"]] == [row["context_k"]] * 3
        cost = (
            answers["prompt_tokens"].sum() * 1.0 + answers["completion_tokens"].sum() * 3.0
        ) / 1e6
        assert row["answer_cost_usd"] == pytest.approx(cost)
        # BM25 embeds nothing and nothing is re-ranked: the answers are the whole cost.
        assert row["cost_per_1k_queries_usd"] == pytest.approx(cost / 3 * 1000)
        assert row["prompt_tokens"] == pytest.approx(answers["prompt_tokens"].mean())
        assert (row["answered"], row["answer_failures"], row["answers_cached"]) == (3, 0, 0)
    with pytest.raises(ragplay.RagplayError, match="configuration with answers"):
        result.answers(base)
    # The latency of a retrieval is measured once and shared by the configurations answering
    # from it.
    latency = result.latency.drop("config_id")
    per_config = result.latency.partition_by("config_id", as_dict=True)
    assert all(v.drop("config_id").equals(latency.head(v.height)) for v in per_config.values())
    # A second sweep reads everything back; a deeper candidate list with the same top
    # documents asks the model nothing new: every answer comes from the response cache.
    again = ragplay.sweep(small, experiment, store=store, show_progress=False)
    assert again.computed == [] and len(again.reused) == 5
    for row in answering.iter_rows(named=True):
        assert again.answers(row["config_id"]).equals(result.answers(row["config_id"]))
    deeper = {
        **experiment,
        "grid": {**experiment["grid"], "llm": ["smol"], "depth": [20], "context_k": [2]},
    }
    third = ragplay.sweep(small, deeper, store=store, show_progress=False)
    fresh = third.results.filter(pl.col("llm").is_not_null())
    assert fresh["answers_cached"].to_list() == [3, 3]
    assert set(third.computed) == set(third.results["config_id"])
    # The model first, then none: the retrieval configuration computed after the answering
    # ones (read back) takes their run, not their answers, and the store stays readable.
    plain_last = {**deeper, "grid": {**deeper["grid"], "llm": ["smol", "none"]}}
    fourth = ragplay.sweep(small, plain_last, store=store, show_progress=False)
    assert len(fourth.computed) == 1 and len(fourth.reused) == 2
    (new,) = fourth.computed
    row = fourth.results.filter(pl.col("config_id") == new)
    assert row["llm"][0] is None and row["answered"][0] is None
    with pytest.raises(ragplay.RagplayError, match="configuration with answers"):
        fourth.answers(new)
    again = ragplay.sweep(small, plain_last, store=store, show_progress=False)
    assert again.computed == [] and len(again.reused) == 3
