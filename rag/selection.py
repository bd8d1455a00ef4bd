"""Question-aware extractive windows: the ``selected_text`` mode's compression.

Each retrieved passage is cut to the ``width`` embedder wordpieces that best match the question, and the
LLM reads those windows as text. A wordpiece scores its highest cosine with the question's content
wordpieces (ColBERT-style max-sim over the embedder's last-layer states, stop words dropped); the window
with the highest total score is then moved ``shift * width`` wordpieces forward, because a SQuAD-style
answer tends to follow the words the question repeats (measured: README, "Selecting instead of pooling").

This is the bar a trained projector has to clear: no training, the same token budget, and text the frozen
LLM reads natively. Token states are computed at query time from the passage text (one embedder forward
over the k passages), so any index works, with or without memory encodings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# English function words in lowercase wordpiece form: matching them says nothing about where an answer is.
STOP_WORDS = frozenset(
    "the a an of in on at to for and or is was were are be by with as from that this which what who whom "
    "when where why how did does do it its their his her".split())


@dataclass(frozen=True)
class WindowConfig:
    """How much of each passage ``selected_text`` keeps.

    ``width``: embedder wordpieces per passage (14 keeps ~8x fewer LLM context tokens than full passages of
    ~140 tokens). ``shift``: fraction of ``width`` the best-matching window moves forward. ``max_length``:
    wordpieces read per passage or question, capped at the embedder's ``max_seq_length`` (the rest of a longer
    passage is never selected).
    """

    width: int = 14
    shift: float = 1 / 3
    max_length: int = 256

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"WindowConfig.width must be >= 1 wordpiece, got {self.width}")
        if not 0.0 <= self.shift < 1.0:
            raise ValueError(f"WindowConfig.shift must be in [0, 1), got {self.shift}")


@dataclass
class TokenStates:
    """One text's wordpieces: normalised last-layer ``states`` ``(L, d)``, character ``spans`` ``(L, 2)`` in
    the text, and the wordpiece strings; special tokens are left out."""

    states: torch.Tensor
    spans: np.ndarray
    tokens: list[str]


@torch.no_grad()
def token_states(embedder: Any, texts: Sequence[str], max_length: int = 256) -> list[TokenStates]:
    """Wordpiece states of ``texts`` (no document prompt: they locate words, they do not retrieve)."""
    if not texts:
        return []
    tok = embedder.tokenizer
    max_length = min(max_length, embedder.max_seq_length)  # never past the model's position table
    features = tok(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                   return_offsets_mapping=True, return_special_tokens_mask=True)
    spans = features.pop("offset_mapping").numpy()
    keep = (features.pop("special_tokens_mask") == 0) & (features["attention_mask"] == 1)
    device = embedder.model.device
    out = embedder.model({k: v.to(device) for k, v in features.items()})
    states = F.normalize(out["token_embeddings"].float(), dim=-1).cpu()
    result = []
    for i in range(len(texts)):
        rows = keep[i].nonzero().flatten()
        ids = features["input_ids"][i, rows].tolist()
        result.append(TokenStates(states[i, rows], spans[i, rows.numpy()], tok.convert_ids_to_tokens(ids)))
    return result


def question_keys(question: TokenStates) -> torch.Tensor:
    """The question's content-wordpiece states ``(q, d)``; all of them when every one is a stop word."""
    rows = [i for i, t in enumerate(question.tokens) if t.lower() not in STOP_WORDS]
    return question.states[rows] if rows else question.states


def window_start(scores: torch.Tensor, width: int, shift: float) -> int:
    """First wordpiece of the ``width``-long window with the highest summed ``scores`` ``(L,)``, shifted."""
    n = scores.shape[0]
    if n <= width:
        return 0
    sums = torch.cumsum(torch.cat([scores.new_zeros(1), scores]), 0)
    best = int(torch.argmax(sums[width:] - sums[:-width]))
    return min(best + int(shift * width), n - width)


def window_span(passage: TokenStates, keys: torch.Tensor, config: WindowConfig) -> tuple[int, int]:
    """``[start, end)`` wordpiece range of the selected window: max-sim of the passage's states against the
    question ``keys`` ``(q, d)``, best ``config.width`` window, shifted; all of a short passage."""
    n = passage.states.shape[0]
    if n <= config.width:
        return 0, n
    scores = (passage.states @ keys.T).max(dim=1).values if keys.shape[0] else passage.states.new_zeros(n)
    start = window_start(scores, config.width, config.shift)
    return start, start + config.width


def cut_window(text: str, passage: TokenStates, keys: torch.Tensor, config: WindowConfig) -> str:
    """The substring of ``text`` covering the selected window (the whole text when it is short enough)."""
    if passage.states.shape[0] <= config.width:
        return text
    start, end = window_span(passage, keys, config)
    return text[int(passage.spans[start][0]):int(passage.spans[end - 1][1])]


def select_windows(embedder: Any, questions: Sequence[str], passages: Sequence[Sequence[str]],
                   config: WindowConfig | None = None) -> list[list[str]]:
    """For each question, its passages cut to their question-aware windows (same order and nesting)."""
    config = config or WindowConfig()
    if len(questions) != len(passages):
        raise ValueError(f"got {len(questions)} questions but {len(passages)} passage lists")
    flat = [text for texts in passages for text in texts]
    question_states = token_states(embedder, questions, config.max_length)
    passage_states = iter(token_states(embedder, flat, config.max_length))
    windows = []
    for q, texts in zip(question_states, passages):
        keys = question_keys(q)
        windows.append([cut_window(text, next(passage_states), keys, config) for text in texts])
    return windows
