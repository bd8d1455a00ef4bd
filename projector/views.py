"""How one training example is shown to the LLM: compressed (student), as text (teacher) or not at all.

Training, teacher caching and the answer-NLL evaluation all build their prompts here, from the same
:mod:`rag.prompt` functions inference uses.
"""

from __future__ import annotations

import torch

from projector.data import Example, PassageTable
from projector.model import Projector
from rag import prompt as P
from rag.llm import LLM


def student_prompts(llm: LLM, examples: list[Example], soft_per_passage: int,
                    with_target: bool = True) -> list[P.EncodedPrompt]:
    """Compressed view: one soft block per passage (QA examples) or a paraphrase instruction (stage 1)."""
    msgs = [P.soft_qa_message(ex.question, len(ex.passages), soft_per_passage) if ex.question is not None
            else P.paraphrase_message(P.soft_block(soft_per_passage), ex.instruction) for ex in examples]
    return [P.encode_prompt(llm, m, target=ex.target if with_target else None) for m, ex in zip(msgs, examples)]


def soft_tokens(projector: Projector, table: PassageTable, examples: list[Example],
                device: torch.device | str) -> list[torch.Tensor]:
    """Per example ``(n_passages * m * t, d_model)`` soft tokens (with gradients when the projector trains)."""
    rows = [r for ex in examples for r in ex.passages]
    memory = torch.from_numpy(table.memory[rows]).to(device)
    soft = projector(memory)  # (total_passages, m*t, d_model)
    out, start = [], 0
    for ex in examples:
        out.append(soft[start:start + len(ex.passages)].reshape(-1, soft.shape[-1]))
        start += len(ex.passages)
    return out


def teacher_prompts(llm: LLM, table: PassageTable, examples: list[Example]) -> list[P.EncodedPrompt]:
    """Full-text view: the full-text-mode prompt with the passages as text, the same target appended.

    A stage-1 example's full-text view is its paraphrase instruction with the passage as text (a copy task).
    """
    return [P.encode_prompt(llm, _text_message(ex, table.teacher_context(ex.passages)), target=ex.target)
            for ex in examples]


def closed_book_prompts(llm: LLM, examples: list[Example]) -> list[P.EncodedPrompt]:
    """No-retrieval view: the question (or paraphrase instruction) alone, the same target appended."""
    return [P.encode_prompt(llm, _text_message(ex, None), target=ex.target) for ex in examples]


def _text_message(ex: Example, contexts: list[str] | None) -> str:
    if ex.question is not None:
        return P.qa_message(ex.question, contexts)
    return P.paraphrase_message(P.DOC_SEPARATOR.join(contexts or []), ex.instruction)
