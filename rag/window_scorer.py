"""A trained window scorer: where in a passage is the answer to this question?

The untrained ``selected_text`` rule scores each wordpiece by its max-sim to the question and shifts the best
window forward by a fixed fraction; it keeps the gold answer in about a third of 14-wordpiece windows. This
small module reads the same frozen embedder wordpiece states of a passage and of the question and predicts,
per passage wordpiece, how likely it is to be part of the answer (an extractive-QA head over a frozen
encoder). The windows with the most predicted answer mass are kept (:mod:`rag.window_allocation`), so
compression stays extractive and question-aware, and the frozen LLM still reads text it knows.

Composed with the embedder (it only reads its states), never a subclass of it; config as JSON beside
safetensors weights, like the projector.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from rag.errors import SqueezeRagError
from rag.persistence import (
    CONFIG_FILE,
    JsonConfig,
    load_weights,
    module_fingerprint,
    require_saved,
    save_module,
)

if TYPE_CHECKING:
    from rag.token_states import TokenStates

logger = logging.getLogger(__name__)


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(L_i, d)`` states into ``(B, max L_i, d)`` and a ``True``-on-real mask ``(B, max L_i)``."""
    length = max(x.shape[0] for x in states)
    batch = states[0].new_zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length, dtype=torch.bool)
    for i, x in enumerate(states):
        batch[i, :x.shape[0]], mask[i, :x.shape[0]] = x, True
    return batch, mask


class WindowScorerMismatchError(SqueezeRagError):
    """A window scorer trained for another embedder than the one in use."""


@dataclass
class WindowScorerConfig(JsonConfig):
    """Shape of the scorer and what it reads.

    ``d_embed``: the embedder's token-state size; ``rank``: size of the learned answer-type features;
    ``hidden``/``kernel``: the two 1-D convolutions over the passage (kernel 15 lets a wordpiece's score
    depend on the question words up to 14 wordpieces around it; measured against 9 in the model card).
    """

    d_embed: int
    rank: int = 32
    hidden: int = 128
    kernel: int = 15
    dropout: float = 0.2
    embedder_id: str = ""
    training: dict = field(default_factory=dict)


class WindowScorer(nn.Module):
    """Question-conditioned answer logits over a passage's wordpieces.

    ``forward(passage (B, L, d_embed), passage_mask (B, L), question (B, Q, d_embed), question_mask (B, Q))``
    -> logits ``(B, L)``, ``-inf`` on padding. Masks are ``True`` on real wordpieces; states are the
    L2-normalised last-layer states of :func:`rag.token_states.token_states`.

    Per wordpiece it builds: its best and top-2 mean cosine with the question (the untrained rule's signal),
    a learned match between the wordpiece and an attention-pooled question (answer type: "when" wants a
    date), and learned features of the wordpiece alone. Two convolutions over the passage turn these into
    a logit, so "the answer sits a few words after the words the question repeats" is learned, not fixed.
    A small, local model on purpose: a 2-layer transformer head trained on the same 3.9k questions stayed
    below the untrained rule (model card).
    """

    def __init__(self, config: WindowScorerConfig) -> None:
        super().__init__()
        self.config = config
        d, r, h, k = config.d_embed, config.rank, config.hidden, config.kernel
        self.passage_type = nn.Linear(d, r)
        self.passage_match = nn.Linear(d, r)
        self.question_match = nn.Linear(d, r)
        self.question_pool = nn.Linear(d, 1)
        self.conv_in = nn.Conv1d(2 + 2 * r, h, k, padding=k // 2)
        self.conv_mid = nn.Conv1d(h, h, k, padding=k // 2)
        self.out = nn.Conv1d(h, 1, 1)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, passage: torch.Tensor, passage_mask: torch.Tensor, question: torch.Tensor,
                question_mask: torch.Tensor) -> torch.Tensor:
        sim = (passage @ question.transpose(1, 2)).masked_fill(~question_mask[:, None, :], -1.0)  # (B, L, Q)
        top = sim.topk(min(2, sim.shape[2]), dim=2).values
        weights = self.question_pool(question).squeeze(-1).masked_fill(~question_mask, float("-inf")).softmax(-1)
        pooled = torch.einsum("bq,bqd->bd", weights, question)
        features = torch.cat([top[..., :1], top.mean(-1, keepdim=True),
                              self.passage_match(passage) * self.question_match(pooled)[:, None],
                              self.passage_type(passage)], dim=-1)
        # Zero the padding before every convolution, so a passage scores the same alone or in a batch.
        mask = passage_mask[:, None, :].to(features.dtype)
        x = self.dropout(F.gelu(self.conv_in(features.transpose(1, 2) * mask)))
        x = F.gelu(self.conv_mid(x * mask))
        return self.out(x).squeeze(1).masked_fill(~passage_mask, float("-inf"))

    @torch.no_grad()
    def answer_logits(self, questions: Sequence[TokenStates], passages: Sequence[TokenStates],
                      batch_size: int = 32) -> list[torch.Tensor]:
        """Answer logits per wordpiece ``(L_i,)`` of each passage, paired with ``questions``."""
        device = next(self.parameters()).device
        out: list[torch.Tensor] = []
        for s in range(0, len(passages), batch_size):
            p, p_mask = pad_states([x.states for x in passages[s:s + batch_size]])
            q, q_mask = pad_states([x.states for x in questions[s:s + batch_size]])
            logits = self(p.to(device), p_mask.to(device), q.to(device), q_mask.to(device)).float().cpu()
            out += [row[:n] for row, n in zip(logits, p_mask.sum(1).tolist())]
        return out

    def answer_probabilities(self, questions: Sequence[TokenStates], passages: Sequence[TokenStates],
                             batch_size: int = 32) -> list[torch.Tensor]:
        """Softmax answer probability per wordpiece ``(L_i,)`` of each passage (normalised per passage)."""
        return [torch.softmax(x, 0) for x in self.answer_logits(questions, passages, batch_size)]

    # --- persistence ---------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, dtype: torch.dtype = torch.float32) -> None:
        """Write ``config.json`` and ``model.safetensors`` (``dtype`` fp16 for shipping)."""
        save_module(self, self.config, directory, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> WindowScorer:
        directory = require_saved(directory, "window scorer",
                                  "WindowScorer.save_pretrained or `squeezerag train-windows`")
        model = cls(WindowScorerConfig.load(directory / CONFIG_FILE))
        model.load_state_dict(load_weights(directory))
        return model.to(device).eval()

    def fingerprint(self) -> str:
        """sha256 over config and weights: identifies the scorer in benchmark configs."""
        return module_fingerprint(self.config, self)

    def check_compatible(self, embedder_id: str, token_dim: int) -> None:
        """Refuse a scorer trained on another embedder's states, naming both."""
        c = self.config
        problems = []
        if c.embedder_id and c.embedder_id != embedder_id:
            problems.append(f"embedder: scorer '{c.embedder_id}' vs in use '{embedder_id}'")
        if c.d_embed != token_dim:
            problems.append(f"token-state size: scorer {c.d_embed} vs embedder {token_dim}")
        if problems:
            raise WindowScorerMismatchError(
                "window scorer does not fit this embedder: " + "; ".join(problems)
                + ". Train one for it with `squeezerag train-windows`, or use the untrained rule (no scorer).")
