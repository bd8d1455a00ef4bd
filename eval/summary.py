"""``metrics.json``: per-mode aggregates of the prediction rows, plus the cross-mode comparisons.

Per mode: EM / F1 / accuracy means with 95% percentile-bootstrap CIs (questions resampled); answer and
gold-passage recall@k of the passages the mode saw; mean context / prompt / new tokens; TTFT and end-to-end
latency p50/p95; throughput; peak memory; estimated LLM GFLOPs per question.

Comparisons (always on the same questions, which every mode shares):

- ``boost_recovery`` of ``compressed`` against (``closed_book``, ``full_text``) and of ``oracle_compressed``
  against (``closed_book``, ``oracle``), for accuracy, EM and F1, with a paired bootstrap CI;
  None when the text mode is no better or worse than closed book (see :func:`eval.metrics.boost_recovery`);
- xRAG's ``resilience_rate`` and ``boost_rate`` of every mode against ``closed_book``, judged on accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.metrics import (
    answer_recall_at_k,
    boost_rate,
    boost_recovery,
    bootstrap_ci,
    gold_passage_recall_at_k,
    paired_bootstrap_ci,
    resilience_rate,
)
from eval.records import QARecord

logger = logging.getLogger(__name__)

SCORES = ("accuracy", "em", "f1")
# compressed (or cut) mode -> the text mode whose gain over closed book it should recover
RECOVERY_REFERENCES = {"compressed": "full_text", "selected_text": "full_text", "oracle_compressed": "oracle"}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95])
    return {"p50": _round(p50, 5), "p95": _round(p95, 5)}


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _score_block(rows: list[dict], n_boot: int, seed: int) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for score in SCORES:
        values = [r[score] for r in rows]
        low, high = bootstrap_ci(values, n=n_boot, seed=seed)
        block[score] = {"mean": _round(np.mean(values)), "ci95": [_round(low), _round(high)]}
    return block


def _recall(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None]
    return _round(np.mean(values)) if values else None


def _cost_block(rows: list[dict], stats: dict[str, Any]) -> dict[str, Any]:
    flops = _mean([r["flops"] for r in rows])
    wall = stats.get("wall_s") or 0.0
    return {
        "context_tokens_mean": _round(np.mean([r["context_tokens"] for r in rows]), 2),
        "prompt_tokens_mean": _round(np.mean([r["prompt_tokens"] for r in rows]), 2),
        "new_tokens_mean": _round(np.mean([r["new_tokens"] for r in rows]), 2),
        "gflops_per_question": None if flops is None else float(f"{flops / 1e9:.4g}"),
        "gflops_by_part": _flops_by_part(rows),
        "ttft_s": _percentiles([r["timings"]["ttft_s"] for r in rows]),
        "latency_s": _percentiles([r["timings"]["total_s"] for r in rows]),
        "wall_s": _round(wall, 3),
        "throughput_qps": _round(len(rows) / wall, 4) if wall > 0 else None,
        **stats.get("memory", {}),
    }


def _flops_by_part(rows: list[dict]) -> dict[str, float] | None:
    """Mean GFLOPs per question of each part (:mod:`eval.flops`), over the rows that carry parts."""
    parts = [r["flops_parts"] for r in rows if r.get("flops_parts")]
    if not parts:
        return None
    names = sorted({name for p in parts for name in p})
    return {name: float(f"{sum(p.get(name, 0.0) for p in parts) / len(parts) / 1e9:.4g}") for name in names}


def mode_summary(rows: list[dict], stats: dict[str, Any], n_boot: int, seed: int) -> dict[str, Any]:
    """Aggregates of one mode's rows; ``stats`` holds what rows do not (wall time, peak memory)."""
    return {"n": len(rows), **_score_block(rows, n_boot, seed),
            "answer_recall_at_k": _recall(rows, "answer_in_context"),
            "gold_recall_at_k": _recall(rows, "gold_in_context"),
            **_cost_block(rows, stats)}


def _recovery(by_mode: dict[str, list[dict]], mode: str, full: str, n_boot: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"closed": "closed_book", "full": full}
    for score in SCORES:
        columns = [[r[score] for r in by_mode[m]] for m in (mode, "closed_book", full)]
        value = boost_recovery(*(float(np.mean(c)) for c in columns))
        ci = paired_bootstrap_ci(boost_recovery, columns, n=n_boot, seed=seed) if value is not None else None
        out[score] = {"value": _round(value), "ci95": None if ci is None else [_round(ci[0]), _round(ci[1])]}
    return out


def comparisons(by_mode: dict[str, list[dict]], n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    """Boost recovery, resilience and boost rates per mode (only where the reference modes ran)."""
    out: dict[str, dict[str, Any]] = {}
    closed = by_mode.get("closed_book")
    for mode, rows in by_mode.items():
        entry: dict[str, Any] = {}
        if closed is not None and mode != "closed_book":
            mode_ok = [bool(r["accuracy"]) for r in rows]
            closed_ok = [bool(r["accuracy"]) for r in closed]
            entry["resilience_rate"] = _round(resilience_rate(mode_ok, closed_ok))
            entry["boost_rate"] = _round(boost_rate(mode_ok, closed_ok))
        full = RECOVERY_REFERENCES.get(mode)
        if closed is not None and full in by_mode:
            entry["boost_recovery"] = _recovery(by_mode, mode, full, n_boot, seed)
        out[mode] = entry
    return out


def retrieval_summary(records: Sequence[QARecord], hits: Sequence[Sequence[Any]], k: int,
                      seconds: float, fingerprint: str) -> dict[str, Any]:
    """Recall at every cutoff 1..k of the one shared retrieval (answer string; gold passage if known)."""
    pairs = [(r, [h.text for h in hs]) for r, hs in zip(records, hits, strict=True)]
    with_context = [(r, t) for r, t in pairs if r.context]
    answer_at = {str(c): _round(np.mean([answer_recall_at_k(t, r.answers, c) for r, t in pairs]))
                 for c in range(1, k + 1)}
    gold_at = None
    if with_context:
        gold_at = {str(c): _round(np.mean([gold_passage_recall_at_k(t, r.context or "", c) for r, t in with_context]))
                   for c in range(1, k + 1)}
    return {"k": k, "shared_across_modes": True, "fingerprint": fingerprint, "seconds": _round(seconds, 4),
            "answer_recall_at": answer_at, "gold_recall_at": gold_at}


def summarise(rows: list[dict], modes: Sequence[str], mode_stats: dict[str, dict[str, Any]],
              retrieval: dict[str, Any], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The whole ``metrics.json`` document."""
    by_mode = {m: [r for r in rows if r["mode"] == m] for m in modes}
    lengths = {m: len(v) for m, v in by_mode.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Modes answered different numbers of questions: {lengths}. Fix: run every mode on "
                         "the same records.")
    per_mode = {m: mode_summary(by_mode[m], mode_stats.get(m, {}), n_boot, seed) for m in modes}
    for mode, extra in comparisons(by_mode, n_boot, seed).items():
        per_mode[mode].update(extra)
    return {"n_questions": next(iter(lengths.values()), 0), "scores": list(SCORES),
            "accuracy_definition": "gold alias appears as a contiguous token sequence in the normalised output",
            "bootstrap": {"resamples": n_boot, "seed": seed, "confidence": 0.95},
            "retrieval": retrieval, "modes": per_mode}
