"""One ``predictions.jsonl`` row per (question, mode): the answer, its scores, cost and evidence.

Row fields: ``id, question, mode, prediction, answers, em, f1, accuracy, context_tokens, prompt_tokens,
new_tokens, flops, flops_parts, timings, retrieved, answer_in_context, gold_in_context``.

``flops`` is the estimated forward FLOPs of answering (:mod:`eval.flops`), ``flops_parts`` the same by part
(``llm``, and where they ran at answer time ``embedder``, ``projector``, ``reader_adapter``).

``timings`` are the pipeline's (:class:`rag.Timings`) with the benchmark's shared retrieval added:
``retrieval_s`` is this question's share of the one batched retrieval (0 for modes without retrieved
passages), and it is added to ``ttft_s`` and ``total_s`` so those run from "question arrives" to "first
token" and "answer done". In a batch, ``ttft_s`` / ``total_s`` are the batch's (all its questions start
together), so latency percentiles are per-batch latencies weighted by batch size.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from eval.errors import BenchmarkError
from eval.flops import CostModel
from eval.metrics import answer_recall_at_k, exact_match, f1_score, gold_passage_recall_at_k, has_answer
from eval.records import QARecord

logger = logging.getLogger(__name__)


def gold_hits(record: QARecord) -> list[Any]:
    """The record's gold context as a one-passage hit list (``row=-1``: the RAG embeds it on the fly)."""
    from indexer import Hit

    return [Hit(id=record.id, title=record.title or "", text=record.context or "", score=1.0, row=-1)]


def hits_summary(hits: Sequence[Any]) -> dict[str, list]:
    """``{"ids", "rows", "scores"}`` of a hit list (what a row stores instead of the passage texts)."""
    return {"ids": [str(h.id) for h in hits], "rows": [int(h.row) for h in hits],
            "scores": [round(float(h.score), 6) for h in hits]}


def passages_fingerprint(passages: Sequence[Sequence[Any]]) -> str:
    """16 hex digits of the SHA-256 of every question's (id, row) hit list, in order."""
    keys = [[(str(h.id), int(h.row)) for h in hits] for hits in passages]
    return hashlib.sha256(json.dumps(keys).encode("utf-8")).hexdigest()[:16]


def check_same_passages(mode: str, given: Sequence[Sequence[Any]], answers: Sequence[Any]) -> None:
    """Raise :class:`BenchmarkError` unless each answer's sources are exactly the passages it was given.

    This is the benchmark's core invariant: the retrieval arms see identical passages and differ only in
    how the context reaches the LLM.
    """
    for i, (hits, answer) in enumerate(zip(given, answers, strict=True)):
        sources = list(getattr(answer, "sources", None) or [])
        if [(str(h.id), int(h.row)) for h in sources] != [(str(h.id), int(h.row)) for h in hits]:
            raise BenchmarkError(
                f"Mode {mode!r}, question {i}: the answer's sources {hits_summary(sources)['ids']} differ from "
                f"the passages passed in {hits_summary(hits)['ids']}, so the modes would not be compared on "
                "the same retrieval. Fix: RAG.answer must use (and return as sources) the passages it is given.")


def _timings(answer: Any, retrieval_share: float) -> dict[str, float]:
    raw = asdict(answer.timings) if is_dataclass(answer.timings) else dict(vars(answer.timings))
    out = {key: float(value) for key, value in raw.items()}
    out["retrieval_s"] = retrieval_share
    out["ttft_s"] = out.get("ttft_s", 0.0) + retrieval_share
    out["total_s"] = out.get("total_s", 0.0) + retrieval_share
    return {key: round(value, 6) for key, value in out.items()}


def prediction_row(record: QARecord, mode: str, answer: Any, passages: Sequence[Any] | None, k: int,
                   retrieval_share: float, costs: CostModel | None,
                   query_tokens: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The JSON row for one question answered in one mode (see the module docstring); ``query_tokens``: what
    retrieval embedded of each question, for a mode that retrieved."""
    texts = [h.text for h in passages] if passages else []
    prompt_tokens, new_tokens = int(answer.prompt_tokens), int(answer.new_tokens)
    parts = (costs.answer_flops(answer.mode, prompt_tokens, new_tokens, int(answer.context_tokens),
                                getattr(answer, "embedder_lengths", ()),
                                (query_tokens or {}).get(record.question, 0)) if costs else None)
    return {
        "id": record.id,
        "question": record.question,
        "mode": mode,
        "prediction": answer.text,
        "answers": list(record.answers),
        "em": exact_match(answer.text, record.answers),
        "f1": round(f1_score(answer.text, record.answers), 6),
        "accuracy": float(has_answer(answer.text, record.answers)),
        "context_tokens": int(answer.context_tokens),
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "flops": sum(parts.values()) if parts else None,
        "flops_parts": parts,
        "timings": _timings(answer, retrieval_share),
        "retrieved": hits_summary(passages or []),
        "answer_in_context": answer_recall_at_k(texts, record.answers, k) if passages is not None else None,
        "gold_in_context": (gold_passage_recall_at_k(texts, record.context, k)
                            if passages is not None and record.context else None),
    }
