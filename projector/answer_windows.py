"""Answer windows: training data for questions whose selected windows miss the gold answer.

A question whose windows hold no gold answer cannot teach answering from them, and the recipe drops it (40% of
the SQuAD training questions with the shipped scorer's three 8-wordpiece windows). With answer windows, such a
question instead reads its selected windows with the last one swapped for a window of the same width around an
occurrence of a gold answer in its passages, so it keeps the gold answer as its target and SQuAD's own question
style. Likewise a question whose retrieval missed its gold paragraph can read it in place of its last hit
(:func:`with_gold_passage`). Only training uses these; validation and inference read the scorer's windows as they
are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from eval.metrics import gold_passage_recall_at_k
from eval.records import QARecord
from eval.rows import gold_hits
from indexer.hit import Hit
from rag.selection import Window, make_window
from rag.token_states import TokenStates


def answer_span(text: str, states: TokenStates, answer: str, width: int) -> tuple[int, int] | None:
    """``[start, end)`` wordpieces of a ``width``-wordpiece window centred on the first occurrence of ``answer`` in
    ``text`` (case-insensitive), widened to cover an answer longer than ``width``; None when ``answer`` does not
    occur in the wordpieces read (it may lie past the embedder's ``max_length``)."""
    # re, not str.lower().find: lower() can change a string's length (e.g. "İ"), and offsets must index ``text``
    found = re.search(re.escape(answer), text, re.IGNORECASE) if answer.strip() else None
    if found is None:
        return None
    at, end = found.span()
    inside = [i for i, (a, b) in enumerate(states.spans) if a < end and b > at]
    if not inside or states.spans[inside[-1]][1] < end:
        return None
    first, last = inside[0], inside[-1] + 1
    start = max(0, min(first - max(0, width - (last - first)) // 2, len(states.tokens) - width))
    return start, max(last, min(start + width, len(states.tokens)))


def with_answer_window(windows: Sequence[Window], texts: Sequence[str], states: Sequence[TokenStates],
                       answers: Sequence[str], width: int) -> tuple[list[Window], str] | None:
    """``windows`` (one question's, in passage then position order) with the last swapped for a window around the
    first gold answer found in a passage (``texts``, their ``states``), and that answer; windows of that passage
    overlapping it are dropped first, so no text is read twice. None when no answer occurs in the passages."""
    for answer in answers:
        for passage, (text, passage_states) in enumerate(zip(texts, states)):
            span = answer_span(text, passage_states, answer, width)
            if span is None:
                continue
            kept = [w for w in windows if w.passage != passage or w.span[1] <= span[0] or w.span[0] >= span[1]]
            kept = kept[:len(windows) - 1] if len(kept) == len(windows) else kept
            new = make_window(passage, text, passage_states, span)
            return sorted([*kept, new], key=lambda w: (w.passage, w.span)), answer
    return None


def with_gold_passage(records: Sequence[QARecord], hits: Sequence[Sequence[Hit]]) -> list[list[Hit]]:
    """Each record's ``hits`` with its gold context in them: where retrieval missed it, it replaces the last hit,
    so the count stays k. Training only: questions whose retrieval missed the answer then still teach answering
    from the windows, with the gold answer as target, in SQuAD's own question style."""
    return [list(hs) if not r.context or gold_passage_recall_at_k([h.text for h in hs], r.context, len(hs))
            else [*hs[:-1], *gold_hits(r)] for r, hs in zip(records, hits)]
