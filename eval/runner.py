"""The benchmark runner: the same questions, the same retrieved passages, several ways to use them.

Modes (``modes=``):

===================  =======================================================================================
``closed_book``      no context
``full_text``        the top-k retrieved passages as text
``compressed``       the same top-k passages as soft tokens (needs ``rag.projector``)
``oracle``           the record's gold context as text (datasets with contexts: SQuAD, HotpotQA, ...)
``oracle_compressed`` the gold context as soft tokens (the RAG embeds it on the fly: ``row=-1``)
===================  =======================================================================================

Retrieval runs once; ``full_text`` and ``compressed`` receive the *same* hit lists, and the runner checks
that each answer's sources are exactly those hits (:func:`eval.rows.check_same_passages`), so the arms
differ only in how the context reaches the LLM. Modes that cannot run are skipped with a logged reason that
is also written to ``config.json`` (``skipped_modes``). Decoding is greedy, so a rerun with the same seed and
inputs gives the same predictions.

Outputs in ``out_dir``: ``config.json``, ``predictions.jsonl``, ``metrics.json``, ``report.md``, ``report.png``.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from eval.environment import library_versions, machine_info, peak_memory_mb, reset_peak_memory
from eval.errors import BenchmarkError
from eval.flops import CostModel, cost_model, query_token_counts
from eval.partial_run import PartialRun, merge_stats
from eval.records import QARecord, records_fingerprint
from eval.rows import check_same_passages, gold_hits, passages_fingerprint, prediction_row
from eval.summary import retrieval_summary, summarise

logger = logging.getLogger(__name__)

ALL_MODES = ("closed_book", "full_text", "selected_text", "compressed", "oracle", "oracle_compressed")
DEFAULT_MODES = ("closed_book", "full_text", "compressed")
RAG_MODE = {"closed_book": "closed_book", "full_text": "full_text", "selected_text": "selected_text",
            "compressed": "compressed",
            "oracle": "full_text", "oracle_compressed": "compressed"}
RETRIEVAL_MODES = ("full_text", "selected_text", "compressed")
GOLD_MODES = ("oracle", "oracle_compressed")
OUTPUT_FILES = ("config.json", "predictions.jsonl", "metrics.json", "report.md", "report.png")
_RETRIEVAL_CHUNK = 256


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` returns (and wrote to ``out_dir`` when one was given)."""

    config: dict[str, Any]
    metrics: dict[str, Any]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    out_dir: Path | None = None

    @property
    def record_ids(self) -> list[str]:
        """Ids of the questions answered, in run order."""
        return list(self.config["record_ids"])

    def predictions_for(self, mode: str) -> list[dict[str, Any]]:
        """The rows of one mode, in run order."""
        return [row for row in self.predictions if row["mode"] == mode]


def select_records(records: Sequence[QARecord], limit: int | None, seed: int) -> list[QARecord]:
    """Shuffle with ``random.Random(seed)`` and keep the first ``limit`` (all when None)."""
    order = list(records)
    random.Random(seed).shuffle(order)
    return order[:limit] if limit is not None else order


def plan_modes(modes: Sequence[str], records: Sequence[QARecord],
               has_projector: bool) -> tuple[list[str], dict[str, str]]:
    """The modes that can run, in the requested order, and ``{skipped mode: reason}``."""
    unknown = [m for m in modes if m not in ALL_MODES]
    if unknown or not modes:
        raise BenchmarkError(f"Unknown or no mode(s) {unknown or list(modes)}. Fix: choose from {list(ALL_MODES)}.")
    skipped: dict[str, str] = {}
    missing_context = sum(1 for r in records if not r.context)
    for mode in dict.fromkeys(modes):
        if RAG_MODE[mode] == "compressed" and not has_projector:
            skipped[mode] = ("the RAG has no projector; pass --projector DIR (projector= in RAG) or train "
                             "one with `squeezerag train`")
        elif mode in GOLD_MODES and missing_context:
            skipped[mode] = (f"{missing_context} of {len(records)} questions have no gold context; use a "
                             "dataset with contexts (SQuAD, HotpotQA, a 'context' column)")
    for mode, reason in skipped.items():
        logger.warning("Skipping mode %r: %s", mode, reason)
    run = [m for m in dict.fromkeys(modes) if m not in skipped]
    if not run:
        raise BenchmarkError(f"No requested mode can run ({skipped}). Fix: see the reasons above.")
    return run, skipped


def retrieve_once(rag: Any, questions: list[str], k: int, progress: bool) -> tuple[list[list[Any]], float]:
    """``rag.retrieve`` over all questions (in chunks, for the progress bar): hits and seconds taken."""
    hits: list[list[Any]] = []
    start = time.perf_counter()
    for s in tqdm(range(0, len(questions), _RETRIEVAL_CHUNK), desc="retrieve", disable=not progress, unit="chunk"):
        hits.extend(list(h) for h in rag.retrieve(questions[s:s + _RETRIEVAL_CHUNK], k))
    seconds = time.perf_counter() - start
    if len(hits) != len(questions) or any(len(h) > k for h in hits):
        raise BenchmarkError(f"rag.retrieve returned {len(hits)} hit lists for {len(questions)} questions (or "
                             f"more than k={k} hits in one). Fix: retrieve must return one list of <= k hits "
                             "per question.")
    return hits, seconds


def _passages_for(mode: str, hits: list[list[Any]] | None, selected: list[QARecord]) -> list[list[Any]] | None:
    if mode in RETRIEVAL_MODES:
        return hits
    if mode in GOLD_MODES:
        return [gold_hits(r) for r in selected]
    return None


def _run_mode(rag: Any, mode: str, questions: list[str], passages: list[list[Any]] | None, batch_size: int,
              max_new_tokens: int | None, progress: bool, warmup: bool) -> tuple[list[Any], dict[str, Any]]:
    if warmup:  # one untimed call, so one-time costs (kernel selection, lazy loads) do not land in the timings
        rag.answer(questions[:1], None if passages is None else passages[:1], mode=RAG_MODE[mode], batch_size=1,
                   max_new_tokens=max_new_tokens, progress=False)
    reset_peak_memory()
    start = time.perf_counter()
    answers = rag.answer(questions, passages, mode=RAG_MODE[mode], batch_size=batch_size,
                         max_new_tokens=max_new_tokens, progress=progress)
    wall = time.perf_counter() - start
    if len(answers) != len(questions):
        raise BenchmarkError(f"rag.answer returned {len(answers)} answers for {len(questions)} questions in "
                             f"mode {mode!r}. Fix: answer must return one Answer per question, in order.")
    if passages is not None:
        check_same_passages(mode, passages, answers)
    return answers, {"wall_s": wall, "memory": peak_memory_mb()}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _build_config(rag: Any, selected: list[QARecord], records: Sequence[QARecord], settings: dict[str, Any],
                  dataset: dict[str, Any] | None, costs: CostModel | None) -> dict[str, Any]:
    describe = rag.describe() if hasattr(rag, "describe") else {}
    device = describe.get("device") or str(getattr(getattr(rag, "llm", None), "device", "unknown"))
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rag": describe,
        "llm_shape": costs.llm.to_dict() if costs else None,
        "cost_model": costs.to_dict() if costs else None,
        "dataset": {**(dataset or {}), "n_records": len(records),
                    "records_fingerprint": records_fingerprint(records),
                    "selected_fingerprint": records_fingerprint(selected)},
        **settings,
        "versions": library_versions(),
        "machine": machine_info(device),
        "record_ids": [r.id for r in selected],
    }


def _check_arguments(records: Sequence[QARecord], k: int, batch_size: int, limit: int | None,
                     checkpoint_batches: int = 1) -> None:
    if not records:
        raise BenchmarkError("No records to benchmark. Fix: load a dataset with load_qa first.")
    empty = [r.id for r in records if not r.question.strip()]
    if empty:
        raise BenchmarkError(f"{len(empty)} record(s) have an empty question (ids {empty[:5]}). Fix: drop them "
                             "from the dataset before benchmarking.")
    if k < 1 or batch_size < 1 or checkpoint_batches < 1 or (limit is not None and limit < 1):
        raise BenchmarkError(f"k={k}, batch_size={batch_size}, limit={limit}, checkpoint_batches="
                             f"{checkpoint_batches}: all must be >= 1. Fix: pass positive values.")


def _answer_mode(rag: Any, mode: str, selected: list[QARecord], passages: list[list[Any]] | None,
                 row_args: dict[str, Any], generation: dict[str, Any], partial: PartialRun | None,
                 checkpoint_batches: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One mode's prediction rows (in ``selected`` order) and ``{wall_s, memory}``, answered in chunks of
    ``checkpoint_batches`` whole batches; with ``partial``, chunks found there are skipped and new ones recorded."""
    done, stats = partial.load(mode) if partial is not None else ({}, None)
    todo = [i for i in range(len(selected)) if i not in done]
    chunk = generation["batch_size"] * checkpoint_batches
    bar = tqdm(total=len(todo), desc=f"answer[{mode}]", disable=not generation["progress"], unit="q")
    for n, s in enumerate(range(0, len(todo), chunk)):
        part = todo[s:s + chunk]
        # One chunk of every question gets the very hit lists the other modes get, not a copy.
        hits = passages if passages is None or len(part) == len(selected) else [passages[i] for i in part]
        answers, part_stats = _run_mode(rag, mode, [selected[i].question for i in part], hits,
                                        **{**generation, "progress": False, "warmup": generation["warmup"] and n == 0})
        rows = [prediction_row(selected[i], mode, a, None if passages is None else passages[i], **row_args)
                for i, a in zip(part, answers, strict=True)]
        done.update(zip(part, rows))
        stats = merge_stats(stats, part_stats)
        if partial is not None:
            partial.append(mode, part, rows, part_stats)
        bar.update(len(part))
    bar.close()
    return [done[i] for i in range(len(selected))], stats or {"wall_s": 0.0, "memory": {}}


def _answer_modes(rag: Any, run_modes: list[str], selected: list[QARecord], hits: list[list[Any]] | None,
                  retrieval_s: float, k: int, costs: CostModel | None, generation: dict[str, Any],
                  partial: PartialRun | None = None, checkpoint_batches: int = 8,
                  query_tokens: dict[str, int] | None = None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every mode's prediction rows and ``{mode: {wall_s, memory}}``; ``generation`` holds ``_run_mode``'s
    keyword settings (batch_size, max_new_tokens, progress, warmup); ``query_tokens`` what retrieval embedded of
    each question (its FLOPs go to the modes that retrieve)."""
    rows: list[dict[str, Any]] = []
    stats: dict[str, dict[str, Any]] = {}
    for mode in run_modes:
        passages = _passages_for(mode, hits, selected)
        logger.info("Mode %s: %d questions", mode, len(selected))
        retrieval = retrieval_s if mode in RETRIEVAL_MODES else 0.0
        row_args = {"k": k, "retrieval_share": retrieval / len(selected), "costs": costs,
                    "query_tokens": (query_tokens or {}) if mode in RETRIEVAL_MODES else {}}
        mode_rows, stats[mode] = _answer_mode(rag, mode, selected, passages, row_args, generation, partial,
                                              checkpoint_batches)
        stats[mode]["wall_s"] += retrieval
        rows += mode_rows
    return rows, stats


def run_benchmark(rag: Any, records: Sequence[QARecord], modes: Sequence[str] = DEFAULT_MODES, k: int = 3,
                  limit: int | None = None, seed: int = 0, out_dir: str | Path | None = None,
                  batch_size: int = 8, max_new_tokens: int | None = None, progress: bool = True,
                  dataset: dict[str, Any] | None = None, n_bootstrap: int = 1000,
                  warmup: bool = True, checkpoint_batches: int = 8) -> BenchmarkResult:
    """Answer ``records`` in every mode and score them; write the five output files when ``out_dir``.

    ``rag`` follows the ``rag.RAG`` contract (``retrieve``, ``answer``, ``projector``, ``llm``, ``describe``).
    ``limit``: the first N records after a shuffle seeded by ``seed`` (their ids go to ``config.json``).
    ``dataset``: what to record about the data source (e.g. :func:`eval.datasets.describe_source`).
    ``warmup``: answer the first question once per mode, untimed, before timing that mode.
    With ``out_dir``, every ``checkpoint_batches`` batches of answers are saved in ``out_dir/partial/``
    (:mod:`eval.partial_run`): the same call again after an interruption answers only what is missing, with the
    same predictions as an uninterrupted run.
    """
    _check_arguments(records, k, batch_size, limit, checkpoint_batches)
    _seed_everything(seed)
    selected = select_records(records, limit, seed)
    run_modes, skipped = plan_modes(modes, selected, getattr(rag, "projector", None) is not None)
    costs = cost_model(rag, [RAG_MODE[m] for m in run_modes])
    settings = {"k": k, "limit": limit, "seed": seed, "modes": list(modes), "modes_run": run_modes,
                "skipped_modes": skipped, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
                "warmup": warmup, "n_bootstrap": n_bootstrap}
    config = _build_config(rag, selected, records, settings, dataset, costs)  # before the long part: fail fast
    hits, retrieval_s = None, 0.0
    if any(m in RETRIEVAL_MODES for m in run_modes):
        hits, retrieval_s = retrieve_once(rag, [r.question for r in selected], k, progress)
    generation = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "progress": progress,
                  "warmup": warmup}
    plan = {**{key: v for key, v in settings.items() if key != "n_bootstrap"}, "rag": config["rag"],
            "selected": config["dataset"]["selected_fingerprint"]}
    partial = PartialRun.open(out_dir, plan) if out_dir is not None else None
    query_tokens = query_token_counts(rag, [r.question for r in selected], costs) if hits is not None else {}
    rows, stats = _answer_modes(rag, run_modes, selected, hits, retrieval_s, k, costs, generation, partial,
                                checkpoint_batches, query_tokens)
    retrieval = (retrieval_summary(selected, hits, k, retrieval_s, passages_fingerprint(hits))
                 if hits is not None else None)
    result = BenchmarkResult(config=config, predictions=rows,
                             metrics=summarise(rows, run_modes, stats, retrieval, n_boot=n_bootstrap, seed=seed))
    if out_dir is not None:
        result.out_dir = write_outputs(Path(out_dir), result)
        partial.finish()
    return result


def write_outputs(out_dir: Path, result: BenchmarkResult) -> Path:
    """Write ``config.json``, ``predictions.jsonl``, ``metrics.json``, ``report.md`` and ``report.png``."""
    from eval.plot import plot_report
    from eval.report import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    existing = [name for name in OUTPUT_FILES if (out_dir / name).exists()]
    if existing:
        logger.info("Overwriting %s in %s", existing, out_dir)
    (out_dir / "config.json").write_text(json.dumps(result.config, indent=2, default=str) + "\n", encoding="utf-8")
    with open(out_dir / "predictions.jsonl", "w", encoding="utf-8") as fh:
        for row in result.predictions:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_report(result.config, result.metrics), encoding="utf-8")
    llm = (result.config.get("rag") or {}).get("llm", "?")
    plot_report(result.metrics, out_dir / "report.png", title=f"{out_dir.name} ({llm}, k={result.config['k']})")
    logger.info("Wrote benchmark outputs to %s", out_dir)
    return out_dir
