"""What ``RAG.ask`` returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from indexer.index import Hit

Mode = Literal["closed_book", "full_text", "selected_text", "compressed"]
MODES: tuple[str, ...] = ("closed_book", "full_text", "selected_text", "compressed")


@dataclass
class Timings:
    """Seconds. ``ttft_s`` and ``generation_s`` are the batch's when questions were answered together."""

    retrieval_s: float = 0.0
    prompt_s: float = 0.0
    ttft_s: float = 0.0
    generation_s: float = 0.0
    total_s: float = 0.0


@dataclass
class Answer:
    """An answer with its evidence and its cost.

    ``context_tokens``: tokens the context occupies in the prompt (text tokens for full_text and
    selected_text, soft tokens for compressed, 0 for closed_book). ``prompt_tokens``: the whole prompt.
    ``embedder_lengths``: tokens of each sequence the embedder read to answer (the question and each passage
    for the window modes, which find their windows at answer time; empty when the context is text or stored).
    """

    question: str
    text: str
    mode: str
    sources: list[Hit] = field(default_factory=list)
    context_tokens: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    embedder_lengths: list[int] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    def to_dict(self) -> dict:
        return asdict(self)
