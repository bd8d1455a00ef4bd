"""A copy bias: at each generation step, add a constant to the logits of the tokens that occur in the question's
context text, so the answer leans towards words the passages (or their windows) contain.

Extractive QA answers are spans of the passage; a soft token that the reader takes in as "a name like this one"
leaves it to pick among near neighbours, and the bias breaks that tie towards the name the window really holds.
The text is only used to choose among output tokens: the LLM reads no more context tokens, and the bias costs one
``(batch, vocab)`` addition per step. Off by default (``RAG(copy_bias=0.0)``); measured in docs/results.md,
"A copy bias".

The boosted set of each question: its context text's tokens as they occur there, each whitespace-separated word's
tokens with and without a leading space (a word opens the answer or follows another), and the LLM's stop tokens,
so that ending the answer is never penalised against continuing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from transformers import LogitsProcessor


def context_token_ids(tokenizer: Any, texts: Sequence[str], always: Iterable[int] = ()) -> set[int]:
    """The LLM token ids a copy bias boosts for one question whose context is ``texts``, plus ``always``; none
    without a context (boosting the stop tokens alone would only cut the answer short)."""
    words = sorted({word for text in texts for word in text.split()})
    if not words:
        return set()
    pieces = list(texts) + words + [" " + word for word in words]
    return set(always).union(*tokenizer(pieces, add_special_tokens=False)["input_ids"])


class CopyBias(LogitsProcessor):
    """Adds ``bias`` to the logits of each batch row's ``token_ids`` at every generation step.

    ``token_ids``: one set per row of the batch; ``scores`` ``(batch, vocab)`` as ``transformers`` passes them.
    """

    def __init__(self, token_ids: Sequence[set[int]], bias: float) -> None:
        self.token_ids = [sorted(ids) for ids in token_ids]
        self.bias = float(bias)
        self._offsets: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[0] != len(self.token_ids):
            raise ValueError(f"CopyBias was built for {len(self.token_ids)} rows, generation has {scores.shape[0]}")
        if self._offsets is None or self._offsets.shape != scores.shape:
            self._offsets = self._build(scores)
        return scores + self._offsets

    def _build(self, scores: torch.Tensor) -> torch.Tensor:
        offsets = torch.zeros_like(scores)
        for row, ids in enumerate(self.token_ids):
            ids = [i for i in ids if i < scores.shape[1]]  # a tokenizer may know ids past the LM head's rows
            offsets[row, ids] = self.bias
        return offsets


def successor_ids(tokenizer: Any, texts: Sequence[str]) -> dict[int, set[int]]:
    """Which LLM tokens follow each token in the context ``texts``: the pairs of the texts' own tokenisation, and
    of each word written without its leading space (an answer's first word) followed by the next word with one."""
    successors: dict[int, set[int]] = {}

    def link(ids: Sequence[int]) -> None:
        for a, b in zip(ids, ids[1:]):
            successors.setdefault(a, set()).add(b)

    texts = [t for t in texts if t]
    if not texts:
        return successors
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        link(ids)
    pairs = sorted({pair for text in texts for pair in zip(text.split(), text.split()[1:])})
    if pairs:
        bare = tokenizer([a for a, _ in pairs], add_special_tokens=False)["input_ids"]
        spaced = tokenizer([" " + b for _, b in pairs], add_special_tokens=False)["input_ids"]
        for head, tail in zip(bare, spaced):
            link(head + tail[:1])
    return successors


class SpanBias(LogitsProcessor):
    """Adds ``bias`` to the logits of the tokens that follow, somewhere in the row's context, the token the row
    wrote last: once an answer has started copying a span, finishing the span costs nothing extra.

    ``successors``: one map per batch row (:func:`successor_ids`); ``scores`` ``(batch, vocab)``. The first step
    (nothing written yet) is left alone; ``input_ids`` hold the prompt (if any) before the new tokens, so the
    number of new tokens is counted from the length seen at the first call.
    """

    def __init__(self, successors: Sequence[dict[int, set[int]]], bias: float) -> None:
        self.successors = list(successors)
        self.bias = float(bias)
        self._prompt_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[0] != len(self.successors):
            raise ValueError(f"SpanBias was built for {len(self.successors)} rows, generation has {scores.shape[0]}")
        if self._prompt_length is None:
            self._prompt_length = input_ids.shape[1]
        if input_ids.shape[1] == self._prompt_length:
            return scores
        scores = scores.clone()
        for row, last in enumerate(input_ids[:, -1].tolist()):
            ids = [i for i in self.successors[row].get(last, ()) if i < scores.shape[1]]
            if ids:
                scores[row, ids] += self.bias
        return scores


def context_biases(tokenizer: Any, context_texts: Sequence[Sequence[str]], stop_ids: Iterable[int],
                   copy_bias: float = 0.0, span_bias: float = 0.0) -> list[LogitsProcessor]:
    """The processors for one batch whose rows have the contexts ``context_texts``: a :class:`CopyBias` when
    ``copy_bias`` is set, a :class:`SpanBias` when ``span_bias`` is; none when both are 0 (off)."""
    processors: list[LogitsProcessor] = []
    if copy_bias:
        stop_ids = list(stop_ids)
        processors.append(CopyBias([context_token_ids(tokenizer, texts, stop_ids) for texts in context_texts],
                                   copy_bias))
    if span_bias:
        processors.append(SpanBias([successor_ids(tokenizer, texts) for texts in context_texts], span_bias))
    return processors
