"""Checkpoints of a benchmark in progress, so that an interrupted run resumes where it stopped.

Answering every question of a pool takes tens of minutes per mode on a CPU (the full-text arm: 20 min for the
1,173 validation questions, 31 min for the 1,535 of the second set on this project's 2 cores, docs/results.md, "Every
question of both sets"), and a run only writes its outputs at the end. With an
output folder the runner answers each mode in chunks of whole generation batches and appends each chunk's
prediction rows to ``<out_dir>/partial/<mode>.jsonl``; the same benchmark run again into the same folder skips
the questions found there. Chunks are whole batches taken in run order, so every question is answered in the
same batch as in an uninterrupted run and greedy decoding gives the same predictions. The folder is removed once
the outputs are written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.errors import BenchmarkError

logger = logging.getLogger(__name__)

PARTIAL_DIR = "partial"
PLAN_FILE = "plan.json"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def plan_digest(plan: dict[str, Any]) -> str:
    """Short sha256 of a JSON-able plan (key order does not matter)."""
    return hashlib.sha256(_canonical(plan).encode()).hexdigest()[:16]


def merge_stats(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Two chunks' ``{"wall_s", "memory": {name: peak or None}}`` as one: walls add up, peaks take the max."""
    if a is None:
        return {"wall_s": b["wall_s"], "memory": dict(b["memory"])}
    peaks = {k: max((v for v in (a["memory"].get(k), b["memory"].get(k)) if v is not None), default=None)
             for k in {**a["memory"], **b["memory"]}}
    return {"wall_s": a["wall_s"] + b["wall_s"], "memory": peaks}


@dataclass
class PartialRun:
    """The ``partial/`` folder of one benchmark plan: per mode, the finished rows by question position."""

    directory: Path

    @classmethod
    def open(cls, out_dir: str | Path, plan: dict[str, Any]) -> PartialRun:
        """Resume the partial run of ``plan`` in ``out_dir``, or start one; refuse another plan's partial run."""
        directory = Path(out_dir) / PARTIAL_DIR
        digest = plan_digest(plan)
        plan_path = directory / PLAN_FILE
        if plan_path.exists():
            stored = json.loads(plan_path.read_text(encoding="utf-8"))
            if stored.get("digest") != digest:
                before = stored.get("plan", {})
                changed = sorted(k for k in {**before, **plan} if _canonical(before.get(k)) != _canonical(plan.get(k)))
                raise BenchmarkError(
                    f"{out_dir} holds an unfinished run of another benchmark (differs in {changed}). Fix: pass "
                    f"another output folder, rerun the unfinished benchmark's own command to finish it, or "
                    f"delete {directory} to start this one there.")
            logger.info("Resuming the unfinished benchmark in %s", out_dir)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            plan_path.write_text(json.dumps({"digest": digest, "plan": plan}, indent=1, default=str) + "\n",
                                 encoding="utf-8")
        return cls(directory)

    def load(self, mode: str) -> tuple[dict[int, dict[str, Any]], dict[str, Any] | None]:
        """``({position: prediction row}, merged stats)`` of the chunks of ``mode`` written so far."""
        path = self.directory / f"{mode}.jsonl"
        rows: dict[int, dict[str, Any]] = {}
        stats = None
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    chunk = json.loads(line)
                except json.JSONDecodeError:  # a chunk cut short by the interruption: answered again
                    continue
                rows.update(zip(chunk["positions"], chunk["rows"]))
                stats = merge_stats(stats, chunk["stats"])
        if rows:
            logger.info("%s: %d questions already answered", mode, len(rows))
        return rows, stats

    def append(self, mode: str, positions: list[int], rows: list[dict[str, Any]], stats: dict[str, Any]) -> None:
        """Record one finished chunk: its questions' positions, their rows and the chunk's stats."""
        line = json.dumps({"positions": positions, "rows": rows, "stats": stats}, ensure_ascii=False) + "\n"
        with open(self.directory / f"{mode}.jsonl", "a+b") as fh:
            if fh.tell():  # after a line cut short by an interruption, start a new one
                fh.seek(-1, 2)
                line = ("" if fh.read(1) == b"\n" else "\n") + line
            fh.write(line.encode("utf-8"))

    def finish(self) -> None:
        """Remove the folder: the run's outputs are written."""
        shutil.rmtree(self.directory, ignore_errors=True)
