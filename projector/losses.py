"""Losses on the answer (target) tokens: NLL and KL(teacher || student), xRAG stage 2.

With left padding every row's target sits at the end of the sequence, so the logits predicting the
``n`` target tokens are the ``n`` positions before the last one: student and teacher align by position
from the right even though their prompts differ in length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rag.llm import LLM
from rag.prompt import PromptBatch


def target_logits(llm: LLM, batch: PromptBatch, n_keep: int) -> torch.Tensor:
    """Logits ``(batch, n_keep, vocab)`` predicting the last ``n_keep`` tokens of each row.

    Only those positions go through the LM head (it is ~20% of a small model's FLOPs).
    """
    out = llm.model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                    position_ids=batch.position_ids, use_cache=False, logits_to_keep=n_keep + 1)
    return out.logits[:, :-1].float()


def target_mask_and_ids(batch: PromptBatch, n_keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch, n_keep)`` mask of real target positions and their token ids (0 where masked)."""
    labels = batch.labels[:, -n_keep:]
    mask = labels != -100
    return mask, labels.clamp(min=0)


def nll(student: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over target tokens."""
    logp = F.log_softmax(student, dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    return -(logp * mask).sum() / mask.sum().clamp(min=1)


def kl_top_k(student: torch.Tensor, teacher_idx: torch.Tensor, teacher_logp: torch.Tensor, mask: torch.Tensor,
             temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) per target token, the teacher restricted to its top-k tokens (renormalised).

    teacher_idx, teacher_logp: ``(batch, n_keep, k)``; student: ``(batch, n_keep, vocab)``.
    Scaled by T^2 as usual so the gradient size does not depend on the temperature.
    """
    s_logp = F.log_softmax(student / temperature, dim=-1).gather(-1, teacher_idx)
    t_logp = F.log_softmax(teacher_logp / temperature, dim=-1)
    kl = (t_logp.exp() * (t_logp - s_logp)).sum(-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1) * temperature**2
