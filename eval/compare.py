"""``compare_runs``: two benchmark runs side by side, per mode and metric, with the difference B − A."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.errors import BenchmarkError
from eval.report import fmt, fmt_sig, table

logger = logging.getLogger(__name__)

# (label, path into a mode's metrics, decimals; None = 4 significant digits)
_ROWS: tuple[tuple[str, tuple[str, ...], int | None], ...] = (
    ("EM", ("em", "mean"), 3),
    ("F1", ("f1", "mean"), 3),
    ("accuracy", ("accuracy", "mean"), 3),
    ("boost recovery (acc)", ("boost_recovery", "accuracy", "value"), 3),
    ("resilience", ("resilience_rate",), 3),
    ("boost rate", ("boost_rate",), 3),
    ("answer R@k", ("answer_recall_at_k",), 3),
    ("context tokens", ("context_tokens_mean",), 1),
    ("prompt tokens", ("prompt_tokens_mean",), 1),
    ("GFLOPs/q", ("gflops_per_question",), None),
    ("TTFT p50 (s)", ("ttft_s", "p50"), 4),
    ("latency p50 (s)", ("latency_s", "p50"), 4),
    ("latency p95 (s)", ("latency_s", "p95"), 4),
    ("q/s", ("throughput_qps",), 2),
)


@dataclass
class RunSummary:
    """The two documents of a run that a comparison needs."""

    name: str
    config: dict[str, Any]
    metrics: dict[str, Any]


def load_run(run: Any) -> RunSummary:
    """A run directory (with ``config.json`` and ``metrics.json``) or a ``BenchmarkResult``."""
    if hasattr(run, "metrics") and hasattr(run, "config"):
        return RunSummary(str(getattr(run, "out_dir", None) or "result"), run.config, run.metrics)
    folder = Path(run)
    missing = [n for n in ("config.json", "metrics.json") if not (folder / n).is_file()]
    if missing:
        raise BenchmarkError(f"{folder} is not a benchmark run folder (missing {missing}). Fix: pass the --out "
                             "folder of a `squeezerag bench` run.")
    return RunSummary(str(folder), _read_json(folder / "config.json"), _read_json(folder / "metrics.json"))


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _get(block: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(block, dict):
            return None
        block = block.get(key)
    return block if isinstance(block, (int, float)) else None


def _delta(a: float | None, b: float | None, digits: int | None) -> str:
    if a is None or b is None:
        return "n/a"
    return f"{b - a:+.4g}" if digits is None else f"{b - a:+.{digits}f}"


def _cell(value: float | None, digits: int | None) -> str:
    return fmt_sig(value) if digits is None else fmt(value, digits)


def _describe(label: str, run: RunSummary) -> str:
    rag = run.config.get("rag", {})
    projector = (rag.get("projector") or {}).get("fingerprint", "none")
    return (f"- {label}: `{run.name}` — {run.metrics.get('n_questions')} questions, k={run.config.get('k')}, "
            f"LLM `{rag.get('llm', 'n/a')}`, projector `{projector}`")


def _question_note(a: RunSummary, b: RunSummary) -> str:
    ids_a, ids_b = a.config.get("record_ids") or [], b.config.get("record_ids") or []
    if ids_a == ids_b:
        return "- Same questions in both runs."
    shared = len(set(ids_a) & set(ids_b))
    return (f"- WARNING: the runs answered different questions ({shared} shared of {len(ids_a)} / {len(ids_b)});"
            " differences mix data and model effects.")


def compare_runs(run_a: Any, run_b: Any) -> str:
    """A Markdown comparison of two runs (folders or ``BenchmarkResult`` s): mode × metric, A, B, B − A."""
    a, b = load_run(run_a), load_run(run_b)
    modes_a, modes_b = a.metrics.get("modes", {}), b.metrics.get("modes", {})
    modes = list(dict.fromkeys([*modes_a, *modes_b]))
    rows = []
    for mode in modes:
        for label, path, digits in _ROWS:
            va, vb = _get(modes_a.get(mode), path), _get(modes_b.get(mode), path)
            if va is None and vb is None:
                continue
            rows.append([f"`{mode}`", label, _cell(va, digits), _cell(vb, digits), _delta(va, vb, digits)])
    lines = ["# Run comparison", "", _describe("A", a), _describe("B", b), _question_note(a, b), "",
             table(["mode", "metric", "A", "B", "B − A"], rows), ""]
    return "\n".join(lines)
