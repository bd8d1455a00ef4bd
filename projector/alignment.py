"""Alignment pretraining of a ``wordpieces`` projector, with no LLM forward pass.

Each embedder wordpiece state is mapped towards the LLM input embedding of the same characters: the
overlap-weighted mean embedding of the LLM tokens that cover the wordpiece's span (the two tokenisers cut words
differently, so a wordpiece may straddle tokens). Cosine loss, since the projector's outputs are normalised to
the LLM's embedding norm anyway. This replaces xRAG's paraphrase stage for this encoding: it costs seconds per
epoch on a CPU instead of an LLM forward and backward per passage, and the soft tokens start out as
approximately the text they stand for, so the frozen LLM can read them before any QA distillation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from projector.model import Projector
from rag.llm import LLM
from rag.selection import token_states

logger = logging.getLogger(__name__)


@dataclass
class AlignConfig:
    """Optimisation of the alignment stage (AdamW over shuffled wordpieces)."""

    epochs: int = 8
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0


def alignment_targets(llm: LLM, text: str, spans: np.ndarray) -> torch.Tensor:
    """``(L, d_model)``: for each wordpiece character span ``[start, end)`` in ``spans`` ``(L, 2)``, the mean
    input embedding of the LLM tokens of ``text`` overlapping it, weighted by the characters they share."""
    enc = llm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = np.asarray(enc.offset_mapping, dtype=np.int64).reshape(-1, 2)
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    shared = (np.minimum(spans[:, None, 1], offsets[None, :, 1])
              - np.maximum(spans[:, None, 0], offsets[None, :, 0])).clip(min=0).astype(np.float32)
    if (shared.sum(1) == 0).any():
        raise ValueError(f"a wordpiece of {text[:60]!r}... shares no character with any LLM token: the "
                         "embedder's and the LLM's tokenisers must both report character offsets")
    weights = torch.from_numpy(shared / shared.sum(1, keepdims=True))
    embeddings = llm.input_embeddings.weight.detach().float()[torch.tensor(enc.input_ids, dtype=torch.long)]
    return weights @ embeddings.cpu()


def alignment_pairs(llm: LLM, embedder: Any, texts: Sequence[str], max_length: int = 256, batch_size: int = 64,
                    progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Wordpiece states ``(N, d_tok)`` of ``texts`` and their alignment targets ``(N, d_model)``."""
    xs, ys = [], []
    for s in tqdm(range(0, len(texts), batch_size), desc="alignment pairs", disable=not progress, unit="batch"):
        chunk = list(texts[s:s + batch_size])
        for text, states in zip(chunk, token_states(embedder, chunk, max_length)):
            xs.append(states.states)
            ys.append(alignment_targets(llm, text, states.spans))
    if not xs:
        raise ValueError("no text to align on: pass at least one non-empty passage")
    return torch.cat(xs), torch.cat(ys)


def alignment_loss(projector: Projector, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos`` between the soft tokens of ``states`` ``(n, d_tok)`` and ``targets`` ``(n, d_model)``."""
    soft = projector(states[:, None, :]).reshape(states.shape[0], -1, targets.shape[-1])
    return (1 - F.cosine_similarity(soft, targets[:, None, :], dim=-1)).mean()


def align(projector: Projector, states: torch.Tensor, targets: torch.Tensor, config: AlignConfig,
          progress: bool = True) -> list[dict]:
    """Train ``projector`` on (wordpiece state, target) pairs; returns the per-epoch mean loss."""
    device = projector.device
    optimizer = torch.optim.AdamW(projector.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    projector.train()
    for epoch in tqdm(range(config.epochs), desc="align", disable=not progress, unit="epoch"):
        order = torch.randperm(states.shape[0], generator=generator)
        total = 0.0
        for s in range(0, len(order), config.batch_size):
            rows = order[s:s + config.batch_size]
            loss = alignment_loss(projector, states[rows].to(device), targets[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        history.append({"epoch": epoch + 1, "align_loss": total / len(order)})
        logger.info("align epoch %d: 1 - cos %.4f", epoch + 1, history[-1]["align_loss"])
    projector.eval()
    return history


@torch.no_grad()
def nearest_token_agreement(llm: LLM, projector: Projector, states: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of wordpieces whose soft token's nearest vocabulary embedding (cosine) is the target's."""
    vocab = F.normalize(llm.input_embeddings.weight.detach().float(), dim=-1).cpu()
    soft = projector(states[:, None, :].to(projector.device))[:, 0].float().cpu()
    predicted = (F.normalize(soft, dim=-1) @ vocab.T).argmax(-1)
    wanted = (F.normalize(targets.float(), dim=-1) @ vocab.T).argmax(-1)
    return float((predicted == wanted).float().mean())
