"""The full-text teacher: the same frozen LLM reading the passages as text.

Its top-k log-probabilities on answer tokens are cached (they never change: the LLM is frozen), and its
greedy answers to template questions become extra stage-2 targets (PISCO's sequence-level distillation).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from projector.data import TEACHER_QUESTION_TEMPLATES, Example, PassageTable
from projector.losses import target_logits
from projector.views import teacher_prompts
from rag import prompt as P
from rag.llm import LLM


@torch.no_grad()
def teacher_top_k(llm: LLM, table: PassageTable, examples: list[Example],
                  k: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per example, the teacher's top-``k`` log-probs and token ids on its target tokens, ``(n_target, k)`` each.

    ``n_target`` is the example's number of target tokens (including the closing end-of-turn token).
    """
    batch = P.assemble(llm, teacher_prompts(llm, table, examples), with_labels=True)
    n_target = (batch.labels != -100).sum(1).tolist()
    logits = target_logits(llm, batch, max(n_target))
    top = torch.log_softmax(logits, dim=-1).topk(k, dim=-1)
    values, indices = top.values.cpu(), top.indices.cpu()
    return [(values[row, values.shape[1] - n:], indices[row, indices.shape[1] - n:])
            for row, n in enumerate(n_target)]


@torch.no_grad()
def teacher_answer_examples(llm: LLM, table: PassageTable, rows: list[int], batch_size: int = 16,
                            max_new_tokens: int = 16, progress: bool = True, seed: int = 0) -> list[Example]:
    """Template questions about passages, answered by the full-text teacher; its answers become targets."""
    import random

    rng = random.Random(seed)
    questions = [rng.choice(TEACHER_QUESTION_TEMPLATES).format(title=table.titles[r]) for r in rows]
    out: list[Example] = []
    for s in tqdm(range(0, len(rows), batch_size), desc="teacher answers", disable=not progress):
        chunk = list(zip(rows[s:s + batch_size], questions[s:s + batch_size]))
        prompts = [P.encode_prompt(llm, P.qa_message(q, table.teacher_context([r]))) for r, q in chunk]
        batch = P.assemble(llm, prompts)
        gen = llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, max_new_tokens)
        out += [Example(passages=[r], target=a, question=q, source="teacher")
                for (r, q), a in zip(chunk, gen.texts) if a.strip()]
    return out
