"""The report of an experiment store: its configurations ranked, with significance against
the baseline, and its charts, as one self-contained HTML page.

:func:`write` draws the charts of a store (quality against latency with the Pareto front,
per-query wins and losses of the best configuration against the baseline, recall at k of the
leading configurations, and the first metric over chunking and retrievers when the sweep
varied both), saves each as SVG and PNG in the report folder and writes ``index.html``, which
embeds the PNGs, so the page can be mailed or archived alone. ``ragplay report STORE`` runs
it and prints the ranked table.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from pathlib import Path

import polars as pl

from . import plot
from .store import Store

#: How many configurations the recall@k chart draws (the best ones by the first metric).
LEADERS = 5


def metric_names(results: pl.DataFrame) -> list[str]:
    """The metrics of a results table, in the sweep's order."""
    return [c[: -len("_p_adjusted")] for c in results.columns if c.endswith("_p_adjusted")]


def text(table: pl.DataFrame) -> str:
    """A table as text for a terminal: every row and column, four decimals, no shape line."""
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        float_precision=4,
        fmt_str_lengths=120,
        tbl_width_chars=300,
        tbl_hide_dataframe_shape=True,
    ):
        return str(table)


#: How the sweep measured latency, for a reader of its table.
LATENCY_NOTE = (
    "latency: each query alone through every stage, measured after every index was built; "
    "each configuration warmed up with 5 queries, each query's time the median of up to 3 "
    "rounds (configurations under 1 s a round are repeated), the rounds visiting the "
    "configurations in a shuffled order; p50_ms is the median over the queries and iqr_ms "
    "its interquartile range (p75 - p25)"
)


def ranked(results: pl.DataFrame, metrics: list[str]) -> pl.DataFrame:
    """The configurations ranked by the first metric: each metric with its Holm-corrected p
    against the baseline, the median latency with its interquartile range, index build time
    and embedded tokens."""
    cols: list[str] = ["label"]
    for m in metrics:
        cols += [m, f"{m}_p_adjusted"]
    iqr = (pl.col("p75_ms") - pl.col("p25_ms")).alias("iqr_ms")
    return results.sort(metrics[0], descending=True).select(
        *cols, "p50_ms", iqr, "index_s", "embedded_tokens"
    )


def verdict(results: pl.DataFrame, metrics: list[str]) -> list[str]:
    """How the best configuration (by the first metric) compares with the baseline on each
    metric: both means, the difference, the Holm-corrected p-value."""
    base = results.filter(pl.col("baseline")).row(0, named=True)
    best = results.sort(metrics[0], descending=True).row(0, named=True)
    lines = [f"best: {best['label']}", f"baseline: {base['label']}"]
    if best["config_id"] == base["config_id"]:
        return [*lines, "the baseline is the best configuration"]
    for m in metrics:
        delta, p = best[f"{m}_delta"], best[f"{m}_p_adjusted"]
        better = delta > 0 and bool(best[f"{m}_significant"])
        lines.append(
            f"{m}: {best[m]:.4f} against {base[m]:.4f} ({delta:+.4f}, p = {p:.4f} with Holm): "
            + ("significantly better" if better else "not significantly better")
        )
    return lines


def charts(store: Store, metrics: list[str]) -> dict[str, plot.Chart]:
    """The report's charts by file stem."""
    results = store.results()
    first = metrics[0]
    best = results.sort(first, descending=True).row(0, named=True)
    base = results.filter(pl.col("baseline")).row(0, named=True)
    qrels = store.qrels()
    out = {"pareto": plot.pareto(results, first, cost="p50_ms")}
    out["wins"] = plot.wins(
        store.run(best["config_id"]),
        store.run(base["config_id"]),
        qrels,
        first,
        names=("best", "baseline"),
    )
    leaders = results.sort(first, descending=True).head(LEADERS)
    if base["config_id"] not in leaders["config_id"]:
        leaders = pl.concat([leaders, results.filter(pl.col("baseline"))])
    runs = {r["label"]: store.run(r["config_id"]) for r in leaders.iter_rows(named=True)}
    out["recall_at_k"] = plot.metric_at_k(runs, qrels, "recall", ks=[1, 3, 5, 10, 20, 50, 100])
    if results["chunking"].n_unique() > 1 and results["retrievers"].n_unique() > 1:
        out["heatmap"] = plot.heatmap(results, "chunking", "retrievers", first)
    return out


def _cell(row: dict, m: str) -> str:
    p = row[f"{m}_p_adjusted"]
    mark = ""
    if p is not None and row[f"{m}_significant"]:
        mark = " ▲" if row[f"{m}_delta"] > 0 else " ▼"
    p_text = "baseline" if p is None else f"p {p:.4f}"
    return (
        f"<td>{row[m]:.4f}{mark}<br><small>[{row[f'{m}_ci_low']:.3f}, {row[f'{m}_ci_high']:.3f}]"
        f" · {p_text}</small></td>"
    )


def table_html(results: pl.DataFrame, metrics: list[str]) -> str:
    """The ranked configurations as an HTML table."""
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    rows = []
    for row in results.sort(metrics[0], descending=True).iter_rows(named=True):
        cls = ' class="baseline"' if row["baseline"] else ""
        cells = "".join(_cell(row, m) for m in metrics)
        rows.append(
            f"<tr{cls}><td>{html.escape(row['label'])}</td>{cells}"
            f"<td>{row['p50_ms']:.2f}</td><td>{row['p95_ms']:.2f}</td>"
            f"<td>{row['index_s']:.2f}</td><td>{row['embedded_tokens']}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>configuration</th>{head}<th>p50 ms</th><th>p95 ms</th>"
        f"<th>index s</th><th>embedded tokens</th></tr></thead><tbody>{''.join(rows)}"
        "</tbody></table>"
    )


STYLE = """
body { font-family: sans-serif; margin: 24px; color: #111; background: #fff; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 24px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.baseline { background: #eef3fb; }
small { color: #555; }
figure { margin: 0 0 24px 0; }
img { display: block; }
"""


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a temporary file in the same folder, renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(store: str | os.PathLike[str] | Store, out: str | os.PathLike[str] | None = None) -> Path:
    """Write the report of ``store`` into ``out`` (default: ``STORE/report``): each chart as
    ``.svg`` and ``.png``, and ``index.html`` with the ranked table and the charts.

    Returns:
        The path of ``index.html``.
    """
    store = store if isinstance(store, Store) else Store(store)
    folder = Path(out) if out is not None else store.path / "report"
    folder.mkdir(parents=True, exist_ok=True)
    results = store.results()
    metrics = metric_names(results)
    figures = []
    for stem, chart in charts(store, metrics).items():
        chart.save(folder / f"{stem}.svg")
        chart.save(folder / f"{stem}.png")
        png = base64.b64encode((folder / f"{stem}.png").read_bytes()).decode("ascii")
        width, height = chart.size
        figures.append(
            f'<figure id="{stem}"><img alt="{html.escape(chart.title)}" width="{width}" '
            f'height="{height}" src="data:image/png;base64,{png}"></figure>'
        )
    manifest = store.manifest
    summary = "<br>".join(html.escape(line) for line in verdict(results, metrics))
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>ragplay report: {html.escape(store.path.name)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>ragplay report: {html.escape(store.path.name)}</h1>"
        f"<p>ragplay {html.escape(str(manifest.get('ragplay_version')))} · "
        f"{results.height} configurations · collection "
        f"{html.escape(str(manifest.get('collection', {}).get('sha256', ''))[:12])}</p>"
        f"<p>{summary}</p>"
        "<p><small>Each metric: mean, 95% bootstrap interval, and the paired test against the "
        "baseline, Holm-corrected across the sweep (▲ significantly better, ▼ significantly "
        "worse).</small></p>"
        f"{table_html(results, metrics)}{''.join(figures)}</body></html>"
    )
    index = folder / "index.html"
    _write_text(index, page)
    return index
