"""Training data for the projector: a passage table with memory vectors, and stage-1 / stage-2 examples.

Stage 1 (paraphrase): soft tokens of a passage in, the passage text out.
Stage 2 (QA): soft tokens + question in, the answer out; the teacher sees the passage as text.
Extra stage-2 sources (PISCO-style, questions about corpus passages):
- ``description``: "What is {title}?" answered by the corpus' own short description;
- ``teacher``: template questions whose targets are the full-text teacher's own greedy answers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag import prompt as P


@dataclass
class Example:
    """One training example. ``passages`` index a :class:`PassageTable`; ``question`` None = stage 1."""

    passages: list[int]
    target: str
    question: str | None = None
    instruction: str = ""
    source: str = ""
    answers: list[str] = field(default_factory=list)  # all gold aliases, for QA validation


@dataclass
class PassageTable:
    """Passages with their memory vectors ``(n, m, d_embed)`` float32, in one encoding."""

    titles: list[str]
    texts: list[str]
    memory: np.ndarray
    encoding: str

    def __len__(self) -> int:
        return len(self.texts)

    def teacher_context(self, rows: Sequence[int]) -> list[str]:
        """How the teacher sees the passages: exactly the full-text mode's formatting."""
        return [P.format_passage(self.titles[r], self.texts[r]) for r in rows]


def build_passage_table(embedder, titles: list[str], texts: list[str], encoding: str, batch_size: int = 64,
                        progress: bool = True) -> PassageTable:
    """Embed passages once, exactly as an index build would (title prefix included), in ``encoding``."""
    from indexer.build import embedding_inputs

    inputs = embedding_inputs(embedder, titles, texts)
    _, memory = embedder.encode_with_memory(inputs, [encoding], batch_size=batch_size, progress=progress)
    return PassageTable(titles=list(titles), texts=list(texts), memory=memory[encoding].astype(np.float32),
                        encoding=encoding)


def truncate_to_tokens(tokenizer, text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` of at most ``max_tokens`` LLM tokens (cut at the token boundary)."""
    ids = tokenizer(text, add_special_tokens=False).input_ids
    return text if len(ids) <= max_tokens else tokenizer.decode(ids[:max_tokens])


def paraphrase_examples(table: PassageTable, rows: Sequence[int], tokenizer, max_target_tokens: int,
                        seed: int = 0) -> list[Example]:
    """Stage 1: restate each passage (truncated) from its soft tokens, under a rotating instruction."""
    rng = random.Random(seed)
    return [Example(passages=[r], target=truncate_to_tokens(tokenizer, table.texts[r], max_target_tokens),
                    instruction=rng.choice(P.PARAPHRASE_INSTRUCTIONS), source="paraphrase")
            for r in rows]


def squad_examples(records, table_rows: dict[str, int]) -> list[Example]:
    """Stage 2 from QA records with contexts; ``table_rows`` maps context text -> table row.

    The target is the first gold answer (SQuAD's annotators' spans are short: what we want generated).
    """
    out = []
    for rec in records:
        if rec.context is None or rec.context not in table_rows or not rec.answers:
            continue
        out.append(Example(passages=[table_rows[rec.context]], target=rec.answers[0], question=rec.question,
                           source="squad", answers=list(rec.answers)))
    return out


def description_examples(table: PassageTable, rows: Sequence[int], descriptions: Sequence[str]) -> list[Example]:
    """"What is {title}?" -> the corpus' short description (e.g. "Art movement"), where it has one."""
    return [Example(passages=[r], target=d.strip(), question=f"What is {table.titles[r]}?", source="description")
            for r, d in zip(rows, descriptions) if d and d.strip()]


TEACHER_QUESTION_TEMPLATES = (
    "What is {title} known for?",
    "When did {title} happen or begin?",
    "Where is {title}?",
    "Who is associated with {title}?",
)


def with_distractors(examples: list[Example], n_rows: int, k: int, seed: int = 0) -> list[Example]:
    """Copies of QA examples with ``k - 1`` random extra passages, the gold one at a random slot.

    Inference feeds top-k passages; training only on k=1 would leave the projector unused to that.
    """
    rng = random.Random(seed)
    out = []
    for ex in examples:
        extra = [rng.randrange(n_rows) for _ in range(k - 1)]
        rows = extra[:]
        rows.insert(rng.randrange(k), ex.passages[0])
        out.append(Example(passages=rows, target=ex.target, question=ex.question, source=ex.source + f"+k{k}",
                           answers=ex.answers))
    return out
