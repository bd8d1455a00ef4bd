"""``Hit``: one passage as search returns it (or as a caller supplies it, e.g. a benchmark's gold context)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hit:
    """A retrieved (or given) passage.

    ``score`` is the inner product with the query (cosine; ``nan`` when not from a search) and ``row`` the
    FAISS id / memory row; ``row = -1`` means "not from an index", and the RAG embeds its text on the fly.
    ``metadata`` holds the source record's other fields.
    """

    id: str
    title: str
    text: str
    score: float = float("nan")
    row: int = -1
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
