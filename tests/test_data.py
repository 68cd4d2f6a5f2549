"""Loaders, writers, schemas, and the errors bad input gets."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import polars as pl
import pytest

import ragplay
from conftest import random_run

SCHEMAS = {
    "corpus": {"doc_id": pl.String, "title": pl.String, "text": pl.String},
    "queries": {"query_id": pl.String, "text": pl.String},
    "qrels": {"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int32},
    "run": {"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64, "rank": pl.UInt32},
}


def write_beir(root: Path, corpus: list[str], queries: list[str], qrels: list[str]) -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (root / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (root / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    return root


GOOD_CORPUS = [
    json.dumps({"_id": "d1", "title": "T1", "text": "alpha"}),
    json.dumps({"_id": 2, "text": "beta"}),
]
GOOD_QUERIES = [json.dumps({"_id": "q1", "text": "alpha?"}), json.dumps({"_id": "q2", "text": "x"})]
GOOD_QRELS = ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q1\t2\t0"]


def test_scifact_loads_with_the_documented_schema(scifact):
    assert scifact.corpus.height == 5183
    assert scifact.queries.height == 300
    assert scifact.qrels.height == 339
    assert dict(scifact.corpus.schema) == SCHEMAS["corpus"]
    assert dict(scifact.queries.schema) == SCHEMAS["queries"]
    assert dict(scifact.qrels.schema) == SCHEMAS["qrels"]
    assert ragplay.COLUMNS["DOC_ID"] == "doc_id"


def test_rust_built_frames_arrive_as_polars_dataframes(scifact):
    run = ragplay.overlap_run(scifact.corpus, scifact.queries, k=10)
    for frame, schema in [
        (scifact.corpus, SCHEMAS["corpus"]),
        (run, SCHEMAS["run"]),
        (ragplay.sample_collection().qrels, SCHEMAS["qrels"]),
    ]:
        assert type(frame) is pl.DataFrame
        assert dict(frame.schema) == schema
    result = ragplay.evaluate(run, scifact.qrels, ["ndcg@10"])
    per_query, summary = result.per_query, result.summary
    assert dict(per_query.schema) == {
        "run": pl.String,
        "query_id": pl.String,
        "ndcg@10": pl.Float64,
    }
    assert dict(summary.schema) == {
        "run": pl.String,
        "num_queries": pl.UInt32,
        "ndcg@10": pl.Float64,
    }
    # Polars operations work on them (a real frame, not a look-alike).
    assert run.group_by("query_id").len().height == 300


def test_frames_cross_into_rust_and_back_unchanged():
    """Frames cross the boundary as Arrow C streams, one per column: several chunks, a slice
    (an offset into the buffers), empty and non-ASCII strings arrive intact, a null is seen,
    and the caller's frame is left as it was."""
    a = pl.DataFrame(
        {"doc_id": ["d1", "d2", "d3"], "title": ["é", "", "ab"], "text": ["x" * 40, "ü", "z"]}
    )
    b = pl.DataFrame({"doc_id": ["d4", "d5"], "title": ["t", "日本"], "text": ["y" * 13, "w"]})
    corpus = pl.concat([a, b], rechunk=False).slice(1, 4)
    assert corpus["doc_id"].n_chunks() == 2
    before = corpus.clone()
    queries = pl.DataFrame({"query_id": ["q1"], "text": ["x"]})
    qrels = pl.DataFrame(
        {"query_id": ["q1"], "doc_id": ["d2"], "relevance": [1]},
        schema_overrides={"relevance": pl.Int32},
    )
    collection = ragplay.Collection(corpus, queries, qrels)
    assert collection.corpus.equals(before)
    assert collection.qrels.equals(qrels)
    assert corpus.equals(before)
    # A null inside a slice of a chunked column is seen where it is.
    holed = corpus.with_columns(
        pl.when(pl.col("doc_id") == "d4").then(None).otherwise("title").alias("title")
    )
    with pytest.raises(ragplay.DataError, match='column "title" holds 1 null'):
        ragplay.Collection(holed, queries, qrels)
    with pytest.raises(TypeError, match="^expected a polars.DataFrame, got dict") as wrong:
        ragplay.Collection(corpus.to_dict(), queries, qrels)  # type: ignore[arg-type]
    assert "'corpus'" in " ".join(wrong.value.__notes__)


def test_small_beir_folder_and_int_ids(tmp_path):
    c = ragplay.load_beir(write_beir(tmp_path, GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS))
    corpus, queries, qrels = c.corpus, c.queries, c.qrels
    assert corpus["doc_id"].to_list() == ["d1", "2"]
    assert corpus["title"].to_list() == ["T1", ""]
    assert queries["query_id"].to_list() == ["q1"]  # only judged queries are kept
    assert qrels.rows() == [("q1", "d1", 1), ("q1", "2", 0)]


def test_trec_run_round_trip_is_exact(tmp_path):
    run, qrels = random_run(20, 50, seed=1)
    run = run.with_columns(pl.col("score") / 3.0)  # scores with long decimal expansions
    path = tmp_path / "sub" / "run.trec"
    ragplay.write_trec_run(run, path, tag="exp1")
    back = ragplay.read_trec_run(path)
    assert dict(back.schema) == SCHEMAS["run"]
    assert back.equals(ragplay.rank_run(run))
    lines = path.read_text().splitlines()
    assert lines[0].split()[1] == "Q0" and lines[0].split()[5] == "exp1"
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.trec"]  # no temp file left
    qpath = tmp_path / "qrels.txt"
    ragplay.write_trec_qrels(qrels, qpath)
    assert ragplay.read_trec_qrels(qpath).equals(qrels)


def test_beir_qrels_file_reads_like_the_collection(scifact, tmp_path):
    from conftest import DATA

    assert ragplay.read_beir_qrels(DATA / "scifact" / "qrels" / "test.tsv").equals(scifact.qrels)


BAD_JSONL = [
    ('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n', r"corpus\.jsonl:2: "),
    ('{"_id": "d1", "text": "ok"}\n\n{"text": "no id"}\n', r"corpus\.jsonl:3: missing field `_id`"),
    (
        '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n',
        r"duplicate document id \"d1\".*lines 1 and 2",
    ),
    ('{"_id": "d1"}\n', r"corpus\.jsonl:1: missing field `text`"),
    ("", r"corpus\.jsonl \(document file\) is empty"),
]


@pytest.mark.parametrize(("content", "message"), BAD_JSONL)
def test_bad_corpus_files(tmp_path, content, message):
    root = write_beir(tmp_path, GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS)
    (root / "corpus.jsonl").write_text(content)
    with pytest.raises(ragplay.DataError, match=message):
        ragplay.load_beir(root)


def test_non_utf8_bytes_name_the_line(tmp_path):
    root = write_beir(tmp_path, GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS)
    (root / "corpus.jsonl").write_bytes(
        b'{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "\xff\xfe"}\n'
    )
    with pytest.raises(ragplay.DataError, match=r"corpus\.jsonl:2: invalid UTF-8"):
        ragplay.load_beir(root)


def test_qrels_naming_unknown_query_or_document(tmp_path):
    root = write_beir(tmp_path, GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + ["q9\td1\t1"])
    with pytest.raises(ragplay.DataError, match=r"unknown query id \"q9\" in .*test\.tsv:4"):
        ragplay.load_beir(root)
    root = write_beir(tmp_path, GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + ["q1\tnope\t1"])
    with pytest.raises(ragplay.DataError, match=r"unknown document id \"nope\""):
        ragplay.load_beir(root)
    root = write_beir(tmp_path, GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + ["q1\td1\thigh"])
    with pytest.raises(
        ragplay.DataError, match=r"test\.tsv:4: relevance \"high\" is not an integer"
    ):
        ragplay.load_beir(root)


def test_missing_files_are_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ragplay.load_beir(tmp_path / "nowhere")
    root = write_beir(tmp_path, GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS)
    (root / "queries.jsonl").unlink()
    with pytest.raises(FileNotFoundError) as info:
        ragplay.load_beir(root)
    assert info.value.filename.endswith("queries.jsonl")
    with pytest.raises(FileNotFoundError):
        ragplay.read_trec_run(tmp_path / "missing.run")
    with pytest.raises(OSError):
        ragplay.write_trec_run(random_run(2, 3, seed=0)[0], tmp_path)  # a directory


def test_malformed_trec_files(tmp_path):
    p = tmp_path / "bad.run"
    p.write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 zero t\n")
    with pytest.raises(ragplay.DataError, match=r"bad\.run:2: score \"zero\" is not a number"):
        ragplay.read_trec_run(p)
    p.write_text("q1 Q0 d1 1 nan t\n")
    with pytest.raises(ragplay.DataError, match=r"bad\.run:1: score is NaN"):
        ragplay.read_trec_run(p)
    p.write_text("q1 d1 1\n")
    with pytest.raises(ragplay.DataError, match=r"bad\.run:1: expected 4 fields"):
        ragplay.read_trec_qrels(p)


def test_trec_readers_take_what_trec_eval_takes(tmp_path):
    """As trec_eval's get_trec_results.c and get_qrels.c read them: lines whose first non-blank
    character is "#" are comments, a run line's fields after the sixth are ignored, and a
    qrels line has exactly four fields."""
    run = tmp_path / "commented.run"
    run.write_text(
        "# produced by some system\n"
        "q1 Q0 d1 1 2.5 sys extra fields here\n"
        "   # an indented comment\n"
        "\n"
        "q1 Q0 d2 2 1.5 sys\n"
        "q2 Q0 d1 1 0.25 sys # a trailing note is a field too\n"
    )
    got = ragplay.read_trec_run(run)
    assert got.rows() == [("q1", "d1", 2.5, 1), ("q1", "d2", 1.5, 2), ("q2", "d1", 0.25, 1)]
    qrels = tmp_path / "commented.qrels"
    qrels.write_text("# query iteration document relevance\nq1 0 d1 2\n# more\nq2 0 d3 0\n")
    assert ragplay.read_trec_qrels(qrels).rows() == [("q1", "d1", 2), ("q2", "d3", 0)]
    qrels.write_text("q1 0 d1 2 extra\n")
    with pytest.raises(ragplay.DataError, match=r"commented\.qrels:1: expected 4 fields"):
        ragplay.read_trec_qrels(qrels)
    run.write_text("q1 Q0 d1 1 2.5\n")
    with pytest.raises(ragplay.DataError, match=r"commented\.run:1: expected 6 fields"):
        ragplay.read_trec_run(run)


QRELS = pl.DataFrame(
    {"query_id": ["a"], "doc_id": ["d1"], "relevance": [1]},
    schema_overrides={"relevance": pl.Int32},
)


def run_of(**cols) -> pl.DataFrame:
    base = {"query_id": ["a", "a"], "doc_id": ["d1", "d2"], "score": [1.0, 0.5]}
    base.update(cols)
    return pl.DataFrame(base)


def test_nan_scores_are_rejected_with_the_row():
    with pytest.raises(ragplay.DataError, match=r"query \"a\", document \"d2\" is NaN"):
        ragplay.evaluate(run_of(score=[1.0, float("nan")]), QRELS, ["map"])
    with pytest.raises(ragplay.DataError, match="NaN"):
        ragplay.rank_run(run_of(score=[float("nan"), 1.0]))


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("ndcg@0", "at least 1"),
        ("f1@10", "unknown metric"),
        ("p", "needs a cut-off"),
        ("ndcg@ten", "not an integer"),
        ("bpref@10", "no cut-off"),
    ],
)
def test_bad_metric_names(metric, message):
    with pytest.raises(ragplay.ConfigError, match=message):
        ragplay.evaluate(run_of(), QRELS, [metric])


def test_bad_tables_and_options():
    with pytest.raises(ragplay.DataError, match=r"missing column \"score\""):
        ragplay.evaluate(run_of().drop("score"), QRELS, ["map"])
    with pytest.raises(ragplay.DataError, match=r"\"doc_id\" must be String, got i64"):
        ragplay.evaluate(run_of(doc_id=[1, 2]), QRELS, ["map"])
    with pytest.raises(ragplay.DataError) as nulls:
        ragplay.evaluate(run_of(doc_id=["d1", None]), QRELS, ["map"])
    assert str(nulls.value) == 'run: column "doc_id" holds 1 null value(s)'

    with pytest.raises(ragplay.DataError, match="qrels table is empty"):
        ragplay.evaluate(run_of(), QRELS.clear(), ["map"])
    with pytest.raises(ragplay.ConfigError) as threshold:
        ragplay.evaluate(run_of(), QRELS, ["map"], relevance_threshold=0)
    assert str(threshold.value) == "invalid relevance_threshold: must be at least 1, got 0"
    assert threshold.value.parameter == "relevance_threshold"
    with pytest.raises(TypeError, match=r'^run "a" must be a polars.DataFrame, got dict'):
        ragplay.evaluate({"a": {"d1": 1.0}}, QRELS, ["map"])  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"^runs\[0\] must be a polars.DataFrame, got dict"):
        ragplay.evaluate([{"d1": 1.0}], QRELS, ["map"])  # type: ignore[list-item]
    with pytest.raises(
        TypeError,
        match="^expected a polars.DataFrame, a dict of run name to DataFrame or a list of "
        "DataFrames, got str",
    ):
        ragplay.evaluate("run.trec", QRELS, ["map"])  # type: ignore[arg-type]
    # A list of runs is stacked as run1, run2, ... (as fuse names them).
    listed = ragplay.evaluate([run_of(), run_of()], QRELS, ["map"])
    assert listed.summary["run"].to_list() == ["run1", "run2"]
    with pytest.raises(TypeError):
        ragplay.evaluate(run_of(), QRELS, ["map"], 2)  # type: ignore[misc]  # keyword-only
    with pytest.raises(ragplay.ConfigError, match="no metric"):
        ragplay.evaluate(run_of(), QRELS, [])


def test_errors_form_one_hierarchy():
    assert issubclass(ragplay.DataError, ragplay.RagplayError)
    assert issubclass(ragplay.DataError, ValueError)
    assert issubclass(ragplay.ConfigError, ragplay.RagplayError)
    assert issubclass(ragplay.ModelError, ragplay.RagplayError)


def test_evaluate_releases_the_gil_and_is_thread_safe():
    run, qrels = random_run(300, 1000, seed=9)
    expected = ragplay.evaluate(run, qrels, ["ndcg@10", "map"]).per_query
    ticks = 0
    stop = False

    def spin() -> None:
        nonlocal ticks
        while not stop:
            ticks += 1
            time.sleep(0)

    spinner = threading.Thread(target=spin)
    spinner.start()
    results: list[pl.DataFrame] = []

    def work() -> None:
        results.append(ragplay.evaluate(run, qrels, ["ndcg@10", "map"]).per_query)

    workers = [threading.Thread(target=work) for _ in range(8)]
    before = ticks
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop = True
    spinner.join()
    assert ticks > before  # Python ran while the evaluations were in flight
    assert len(results) == 8 and all(r.equals(expected) for r in results)
