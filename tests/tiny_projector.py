"""A tiny projector for a tiny LLM (shapes only; random weights)."""

from __future__ import annotations

from projector import Projector, ProjectorConfig


def make_projector(llm, **overrides) -> Projector:
    cfg = dict(d_embed=16, d_model=llm.hidden_size, tokens_per_vector=2, hidden=32, memory_encoding="segments:2",
               embedder_id="tiny-embedder", llm_id=llm.id, target_norm=llm.embedding_norm)
    cfg.update(overrides)
    return Projector(ProjectorConfig(**cfg))
