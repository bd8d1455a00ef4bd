"""What ``RAG.ask`` takes and returns: the answering modes, the checks on its input, the :class:`Answer`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from indexer.index import Hit
from rag.errors import InvalidQuestionError

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


def check_mode(mode: str) -> None:
    """Refuse a mode that is not one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"unknown mode '{mode}': choose one of {', '.join(MODES)}")


def check_questions(questions: Sequence[str]) -> None:
    """Refuse no question, or an empty or whitespace-only one (:class:`~rag.errors.InvalidQuestionError`)."""
    if isinstance(questions, str):
        questions = [questions]
    if not questions:
        raise InvalidQuestionError("no question given: pass a non-empty question string")
    for i, q in enumerate(questions):
        if not isinstance(q, str) or not q.strip():
            raise InvalidQuestionError(f"question {i} is empty or whitespace: ask a question with some words in it")
