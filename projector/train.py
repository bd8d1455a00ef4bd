"""Projector training: stage 1 (paraphrase) and stage 2 (QA + self-distillation), resumable.

Only the projector has trainable parameters; the LLM and embedder are frozen and in eval mode. The
prompts come from :mod:`rag.prompt`, the same functions inference uses.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from projector.checkpoint import load_checkpoint, save_checkpoint
from projector.data import Example, PassageTable
from projector.losses import kl_top_k, nll, target_logits, target_mask_and_ids
from projector.model import Projector
from projector.teacher_cache import TeacherCache
from projector.views import soft_tokens, student_prompts
from rag import prompt as P
from rag.llm import LLM

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Optimisation settings of one training stage."""

    stage: str = "qa"  # "paraphrase" (stage 1) or "qa" (stage 2)
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 8
    epochs: int = 1
    max_steps: int | None = None
    warmup_steps: int = 10
    kl_weight: float = 2.0  # xRAG: NLL + 2.0 * KL(teacher || student), temperature 1
    temperature: float = 1.0
    kl_top_k: int = 64
    grad_clip: float = 1.0
    checkpoint_every: int = 50
    log_every: int = 10
    val_qa_examples: int = 64
    seed: int = 0


class Trainer:
    """Trains ``projector`` on ``examples`` (rows of ``table``), checkpointing to ``out_dir/checkpoint``."""

    def __init__(self, projector: Projector, llm: LLM, table: PassageTable, examples: list[Example],
                 config: TrainConfig, out_dir: str | Path, val_examples: list[Example] | None = None,
                 teacher: TeacherCache | None = None) -> None:
        self.projector, self.llm, self.table, self.examples = projector, llm, table, examples
        self.config, self.out_dir = config, Path(out_dir)
        self.val_examples = val_examples or []
        self.params = [p for p in projector.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.steps_per_epoch = math.ceil(len(examples) / config.batch_size)
        total = self.steps_per_epoch * config.epochs
        self.total_steps = min(total, config.max_steps) if config.max_steps is not None else total
        self.step = 0
        self.history: list[dict] = []
        # The LLM is frozen, so the teacher's outputs are computed once (and kept on disk when given a path).
        self.teacher = teacher or TeacherCache(None, llm, config.kl_top_k)

    # --- schedule and data order ---------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 10% of the peak."""
        c = self.config
        if step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        frac = (step - c.warmup_steps) / max(1, self.total_steps - c.warmup_steps)
        return c.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    def batch_indices(self, step: int) -> list[int]:
        """Example indices of ``step``: a per-epoch permutation fixed by the seed (resume-safe)."""
        epoch, i = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng(self.config.seed + epoch).permutation(len(self.examples))
        bs = self.config.batch_size
        return perm[i * bs:(i + 1) * bs].tolist()

    # --- losses ----------------------------------------------------------------------------------
    @property
    def soft_per_passage(self) -> int:
        m = self.table.memory.shape[1]
        return self.projector.config.soft_tokens_per_passage(m)

    def soft_tokens(self, examples: list[Example]) -> list[torch.Tensor]:
        return soft_tokens(self.projector, self.table, examples, self.llm.device)

    def loss(self, indices: list[int], examples: list[Example] | None = None,
             with_kl: bool = True) -> tuple[torch.Tensor, dict]:
        """NLL on target tokens (+ KL to the full-text teacher in stage 2) for examples ``indices``."""
        examples = examples if examples is not None else [self.examples[i] for i in indices]
        batch = P.assemble(self.llm, student_prompts(self.llm, examples, self.soft_per_passage),
                           self.soft_tokens(examples), with_labels=True)
        n_keep = int((batch.labels != -100).sum(1).max())
        student = target_logits(self.llm, batch, n_keep)
        mask, ids = target_mask_and_ids(batch, n_keep)
        loss_nll = nll(student, ids, mask)
        parts = {"nll": loss_nll.item()}
        loss = loss_nll
        if with_kl and self.uses_teacher:
            t_logp, t_idx = self._teacher(examples, n_keep)
            loss_kl = kl_top_k(student, t_idx.to(student.device), t_logp.to(student.device), mask,
                               self.config.temperature)
            parts["kl"] = loss_kl.item()
            loss = loss + self.config.kl_weight * loss_kl
        parts["loss"] = loss.item()
        return loss, parts

    @property
    def uses_teacher(self) -> bool:
        return self.config.stage == "qa" and self.config.kl_weight > 0

    def _teacher(self, examples: list[Example], n_keep: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher top-k log-probs and ids ``(batch, n_keep, k)``, right-aligned like the student's targets."""
        return self.teacher.aligned(self.teacher.get(self.llm, self.table, examples), n_keep)

    # --- loop ------------------------------------------------------------------------------------
    def train_step(self) -> dict:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.projector.train()
        loss, parts = self.loss(self.batch_indices(self.step))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return parts

    def fit(self, progress: bool = True, resume: bool = True, until: int | None = None) -> list[dict]:
        """Train to ``total_steps``; resumes from ``out_dir/checkpoint`` when present and ``resume``.

        ``until`` stops early at that step (with a checkpoint), so a long CPU run can be done in parts.
        """
        ckpt = self.out_dir / "checkpoint"
        if resume and (ckpt / "trainer_state.json").exists():
            self.load(ckpt)
            logger.info("Resumed from %s at step %d/%d", ckpt, self.step, self.total_steps)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stop = min(self.total_steps, until) if until is not None else self.total_steps
        if self.uses_teacher and self.step < stop:
            # Up front, in length-sorted batches: far less padding than the training batches would have.
            self.teacher.fill(self.llm, self.table, self.examples, self.config.batch_size, progress=progress)
        bar = tqdm(total=self.total_steps, initial=self.step, desc=f"train[{self.config.stage}]",
                   disable=not progress)
        t0, running = time.perf_counter(), []
        while self.step < stop:
            parts = self.train_step()
            running.append(parts["loss"])
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(running[-self.config.log_every:]):.3f}")
            if self.step % self.config.log_every == 0 or self.step == self.total_steps:
                self._log({"step": self.step, "lr": self.lr_at(self.step - 1), **parts,
                           "loss_avg": float(np.mean(running[-self.config.log_every:])),
                           "s_per_step": (time.perf_counter() - t0) / len(running)})
            if self.step % self.steps_per_epoch == 0 or self.step == self.total_steps:
                self._log({"step": self.step, "epoch": self.step / self.steps_per_epoch, **self.validate()})
            if self.step % self.config.checkpoint_every == 0 or self.step in (stop, self.total_steps):
                self.save(ckpt)
        bar.close()
        return self.history

    def _log(self, record: dict) -> None:
        self.history.append(record)
        logger.info("%s", record)
        with open(self.out_dir / "history.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    @torch.no_grad()
    def validate(self) -> dict:
        """Validation loss on all validation examples and QA accuracy on up to ``val_qa_examples``."""
        if not self.val_examples:
            return {}
        self.projector.eval()
        bs = self.config.batch_size
        losses = [self.loss([], self.val_examples[i:i + bs], with_kl=False)[1]["nll"]
                  for i in range(0, len(self.val_examples), bs)]
        out = {"val_nll": float(np.mean(losses))}
        qa = [ex for ex in self.val_examples if ex.answers][: self.config.val_qa_examples]
        if qa:
            out.update(self.qa_metrics(qa))
        return out

    def qa_metrics(self, examples: list[Example]) -> dict:
        from eval.metrics import exact_match, f1_score, has_answer

        preds = []
        for s in range(0, len(examples), self.config.batch_size):
            chunk = examples[s:s + self.config.batch_size]
            prompts = student_prompts(self.llm, chunk, self.soft_per_passage, with_target=False)
            batch = P.assemble(self.llm, prompts, self.soft_tokens(chunk))
            preds += self.llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, 16).texts
        return {"val_em": float(np.mean([exact_match(p, ex.answers) for p, ex in zip(preds, examples)])),
                "val_f1": float(np.mean([f1_score(p, ex.answers) for p, ex in zip(preds, examples)])),
                "val_acc": float(np.mean([has_answer(p, ex.answers) for p, ex in zip(preds, examples)]))}

    def save(self, directory: Path) -> None:
        save_checkpoint(directory, self.projector, self.optimizer,
                        {"step": self.step, "config": asdict(self.config), "history": self.history})

    def load(self, directory: Path) -> None:
        state = load_checkpoint(directory, self.projector, self.optimizer)
        self.step, self.history = state["step"], state["history"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
