"""Teacher answers as distillation targets (sequence-level distillation, as PISCO trains its compressors).

The recipe's answer losses are taken on the gold SQuAD span ("Normans"), while the frozen reader answers in
sentences of its own ("The Normans were ..."): the student is trained on answers it never writes. Here the target
is instead what the same LLM answers greedily from the same windows read as text, the teacher of the KL term,
generated as the compressed mode generates. ``right``: only where that answer holds a gold answer (the others keep
the gold span, so no question is dropped and no wrong answer is taught); ``all``: every question, as PISCO does.
Answers are generated once and cached in a JSON file beside the run, so a resumed run reuses them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from eval.metrics import has_answer
from projector.window_distill import WindowExample
from rag import prompt as P
from rag.llm import LLM
from rag.pipeline import DEFAULT_MAX_NEW_TOKENS

logger = logging.getLogger(__name__)

TEACHER_TARGETS = ("right", "all")


@torch.no_grad()
def text_teacher_answers(llm: LLM, examples: Sequence[WindowExample], batch_size: int = 16,
                         progress: bool = True) -> list[str]:
    """The LLM's greedy answer to each of ``examples`` from its windows as text, in the teacher's prompt (the one
    ``distill_loss`` teacher-forces), generated as the compressed mode generates (``DEFAULT_MAX_NEW_TOKENS``,
    stopping at a newline)."""
    texts: list[str] = []
    for s in tqdm(range(0, len(examples), batch_size), desc="teacher answers", disable=not progress, unit="batch"):
        prompts = [P.encode_prompt(llm, P.qa_message(e.question, [w.text for w in e.windows]))
                   for e in examples[s:s + batch_size]]
        batch = P.assemble(llm, prompts)
        texts += llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, DEFAULT_MAX_NEW_TOKENS).texts
    return texts


def cached_teacher_answers(llm: LLM, examples: Sequence[WindowExample], path: str | Path, batch_size: int = 16,
                           progress: bool = True) -> list[str]:
    """:func:`text_teacher_answers`, read from ``path`` when it holds answers to these very questions and windows,
    else generated and written there."""
    path = Path(path)
    keys = [[e.question, [w.text for w in e.windows]] for e in examples]
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("keys") == keys:
            return list(cached["answers"])
        logger.warning("%s holds teacher answers to other questions or windows; generating them again", path)
    answers = text_teacher_answers(llm, examples, batch_size, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": keys, "answers": answers}) + "\n")
    return answers


def with_teacher_targets(examples: Sequence[WindowExample], answers: Sequence[str],
                         which: str) -> tuple[list[WindowExample], int]:
    """``examples`` with ``answers`` as their targets: all of them (``all``) or those holding a gold answer
    (``right``; the rest keep their gold span), and how many changed. Each keeps its gold aliases, so accuracy
    still reads the gold."""
    if which not in TEACHER_TARGETS:
        raise ValueError(f"teacher targets must be one of {TEACHER_TARGETS}, got '{which}'")
    if len(answers) != len(examples):
        raise ValueError(f"got {len(answers)} teacher answers for {len(examples)} examples")
    out, changed = [], 0
    for e, answer in zip(examples, answers):
        use = bool(answer.strip()) and (which == "all" or has_answer(answer, e.gold_answers))
        out.append(replace(e, answer=answer.strip(), aliases=tuple(e.gold_answers)) if use else e)
        changed += use
    return out, changed
