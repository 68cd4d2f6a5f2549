"""Reading an experiment store: the folder ``ragplay.sweep(..., store=PATH)`` writes.

The store keeps every finished configuration (``configs/<id>.json`` and ``runs/<id>.arrow``),
the judgements, the last results table and a manifest. Runs are one Arrow IPC dataset, so
``Store.runs()`` is a lazy scan over all of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

CONFIG_ID = "config_id"


class Store:
    """An experiment store on disk.

    Args:
        path: The store folder, as given to ``ragplay.sweep(store=...)``.

    Raises:
        FileNotFoundError: No store manifest in ``path``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(
                f"{manifest}: no ragplay store here (run a sweep into it first)"
            )

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest: format, ragplay version, machine, collection fingerprint, the last
        experiment, the baseline id and the finished configuration ids in order."""
        with open(self.path / "manifest.json", encoding="utf-8") as f:
            manifest: dict[str, Any] = json.load(f)
        return manifest

    @property
    def baseline(self) -> str:
        """The last sweep's baseline configuration id."""
        baseline = self.manifest.get("baseline")
        if not baseline:
            raise FileNotFoundError(f"{self.path}: the sweep into this store did not finish")
        return str(baseline)

    def configurations(self) -> pl.DataFrame:
        """One row per finished configuration: ``config_id``, ``label`` and its measurements."""
        rows = []
        for config_id in self.manifest["configs"]:
            path = self.path / "configs" / f"{config_id}.json"
            if path.is_file():
                with open(path, encoding="utf-8") as f:
                    record = json.load(f)
                record.pop("latency", None)
                config = record.pop("config")
                rows.append({CONFIG_ID: record.pop("id"), **record, "config": json.dumps(config)})
        return pl.DataFrame(rows)

    def runs(self) -> pl.LazyFrame:
        """Every finished configuration's run, lazily: ``config_id``, ``query_id``, ``doc_id``,
        ``score``, ``rank``."""
        return pl.scan_ipc(self.path / "runs" / "*.arrow")

    def run(self, config_id: str) -> pl.DataFrame:
        """One configuration's run (``query_id``, ``doc_id``, ``score``, ``rank``).

        Raises:
            KeyError: No finished configuration has that id.
        """
        path = self.path / "runs" / f"{config_id}.arrow"
        if not (self.path / "configs" / f"{config_id}.json").is_file() or not path.is_file():
            known = ", ".join(self.manifest["configs"])
            raise KeyError(f"configuration {config_id!r} is not in {self.path} (finished: {known})")
        return pl.read_ipc(path).drop(CONFIG_ID)

    def baseline_run(self) -> pl.DataFrame:
        """The baseline configuration's run."""
        return self.run(self.baseline)

    def results(self) -> pl.DataFrame:
        """The last sweep's results table (as ``SweepResult.results``)."""
        return pl.read_ipc(self.path / "results.arrow")

    def latency(self) -> pl.DataFrame:
        """Per configuration and stage latency (as ``SweepResult.latency``)."""
        return pl.read_ipc(self.path / "latency.arrow")

    def qrels(self) -> pl.DataFrame:
        """The judgements the runs were evaluated against."""
        return pl.read_ipc(self.path / "qrels.arrow")

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, configurations={len(self.manifest['configs'])})"
