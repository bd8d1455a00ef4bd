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
