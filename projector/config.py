"""Projector configuration, serialised as ``config.json`` beside ``model.safetensors``."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.persistence import JsonConfig

# The memory encoding read at query time, not from the index: the embedder's wordpiece states of the
# question-aware windows (rag.selection), one soft token per wordpiece.
WORDPIECES = "wordpieces"


@dataclass
class ProjectorConfig(JsonConfig):
    """What a projector maps from and to, and how it was trained.

    A memory vector ``(d_embed,)`` becomes ``tokens_per_vector`` soft tokens ``(d_model,)`` each, so a passage
    stored as ``m`` memory vectors becomes ``m * tokens_per_vector`` soft tokens.
    """

    d_embed: int
    d_model: int
    tokens_per_vector: int = 4
    hidden: int = 1024
    memory_encoding: str = "pooled"
    embedder_id: str = ""
    llm_id: str = ""
    # Soft tokens are scaled to the LLM's mean input-embedding norm so they sit where real tokens do.
    target_norm: float = 1.0
    dropout: float = 0.0
    prompt_version: str = ""
    training: dict = field(default_factory=dict)

    def soft_tokens_per_passage(self, n_vectors: int) -> int:
        return n_vectors * self.tokens_per_vector

    @property
    def reads_wordpieces(self) -> bool:
        """True when the projector maps selected windows' wordpiece states (not stored memory vectors)."""
        return self.memory_encoding == WORDPIECES
