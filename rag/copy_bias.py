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


def bias_offsets(token_ids: Sequence[Iterable[int]], bias: float, vocab_size: int) -> torch.Tensor:
    """``(batch, vocab_size)`` zeros with ``bias`` at each row's ``token_ids``: what a copy bias adds to one step's
    logits. Used by :class:`CopyBias` when answering and by training that answers with the bias
    (:mod:`projector.window_distill`). Ids past ``vocab_size`` are dropped (a tokenizer may know ids past the LM
    head's rows)."""
    offsets = torch.zeros(len(token_ids), vocab_size)
    for row, ids in enumerate(token_ids):
        offsets[row, [i for i in ids if i < vocab_size]] = float(bias)
    return offsets


def with_copy_bias(logits: torch.Tensor, token_ids: Sequence[Iterable[int]], bias: float) -> torch.Tensor:
    """``logits`` ``(batch, n, vocab)`` with the copy bias added at every one of the ``n`` positions, as answering
    with it adds it at every generated token: for training that answers with the bias. Unchanged when ``bias`` is
    0."""
    if not bias:
        return logits
    return logits + bias_offsets(token_ids, bias, logits.shape[-1]).to(logits)[:, None]


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
            self._offsets = bias_offsets(self.token_ids, self.bias, scores.shape[1]).to(scores)
        return scores + self._offsets
