"""A tiny projector for a tiny LLM (shapes only; random weights)."""

from __future__ import annotations

import torch

from projector import Projector, ProjectorConfig
from projector.config import WORDPIECES
from projector.reader_adapter import reader_adapter_spec


def make_projector(llm, **overrides) -> Projector:
    cfg = dict(d_embed=16, d_model=llm.hidden_size, tokens_per_vector=2, hidden=32, memory_encoding="segments:2",
               embedder_id="tiny-embedder", llm_id=llm.id, target_norm=llm.embedding_norm)
    cfg.update(overrides)
    return Projector(ProjectorConfig(**cfg))


def adapted_window_projector(llm, seed: int, hidden: int = 32, dropout: float = 0.0) -> Projector:
    """A window projector with a rank-2 reader adapter whose deltas are not zero (as after training), drawn at
    ``seed``: an ingredient for a soup."""
    torch.manual_seed(seed)
    projector = make_projector(llm, tokens_per_vector=1, memory_encoding=WORDPIECES, hidden=hidden,
                               reader_adapter=reader_adapter_spec(llm.model, rank=2, dropout=dropout))
    for delta in projector.reader_adapter.deltas.values():
        torch.nn.init.normal_(delta.up.weight)
    return projector.eval()
