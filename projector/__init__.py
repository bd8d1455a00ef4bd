"""Trained soft-token compression: memory vectors -> a few soft tokens for a frozen LLM."""

from projector.config import ProjectorConfig
from projector.model import Projector

__all__ = ["Projector", "ProjectorConfig"]
