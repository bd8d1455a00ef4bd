"""QA distillation of a ``wordpieces`` projector: soft windows should make the frozen LLM answer as it does from
the same windows as text.

The student reads :func:`rag.prompt.soft_windows_message` (one soft block per selected window) and the teacher,
the same frozen LLM, reads those windows as text in the same layout. Loss on the gold answer tokens:
NLL + ``kl_weight`` x KL(teacher || student) over the teacher's top-k (xRAG's stage 2, with the window text as
the teacher's context). Only questions whose windows hold a gold answer are used, so the NLL never teaches the
LLM to answer from nothing. A ``reader_tokens`` projector can also be taught how the LLM reads every soft token
(``reading_weight``: :mod:`projector.reading_distill`). With ``copy_bias`` both answer losses are taken on
logits with the copy bias added (:mod:`rag.copy_bias`), for a projector meant to answer with it. Checkpoints
every ``checkpoint_every`` steps; a rerun resumes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from eval.metrics import has_answer
from eval.records import QARecord
from indexer.hit import Hit
from projector.answer_windows import with_answer_window
from projector.checkpoint import load_checkpoint, save_checkpoint
from projector.losses import kl_top_k, nll, target_logits, target_mask_and_ids
from projector.model import Projector, soft_window_prompt
from projector.reading_distill import exact_twin_tokens, reading_kl, reading_mask, reading_span
from rag import prompt as P
from rag.copy_bias import CopyBias, context_token_ids, with_copy_bias
from rag.llm import LLM
from rag.pipeline import DEFAULT_MAX_NEW_TOKENS
from rag.selection import Window, WindowConfig, windows_of_states
from rag.token_states import LAST_LAYER, token_states
from rag.window_scorer import WindowScorer
from rag.window_training import lr_factor

logger = logging.getLogger(__name__)


@dataclass
class DistillConfig:
    """Optimisation of the QA distillation stage."""

    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 20
    kl_weight: float = 2.0
    temperature: float = 1.0
    top_k: int = 64
    # reader_tokens only: weight of KL(exact-token twin || student) at every position from the first soft token
    # (projector.reading_distill); 0 trains on the answer tokens alone
    reading_weight: float = 0.0
    # train for answering with a copy bias (rag.copy_bias, RAG(copy_bias=b)): b added to the logits of the window
    # text's tokens for student and teacher alike in both losses, and in the validation answers; 0: none
    copy_bias: float = 0.0
    # train only the projector's reading prompt (prompt tuning on a finished projector); the rest stays as loaded
    freeze_projector: bool = False
    # lr of the reading prompt when it trains beside the projector (prompt tuning wants ~10x the projector's lr);
    # None: lr
    prompt_lr: float | None = None
    # lr of the projector's reader adapter (projector.reader_adapter: low-rank deltas on the LLM); None: lr
    adapter_lr: float | None = None
    grad_clip: float = 1.0
    checkpoint_every: int = 50
    val_questions: int = 64
    # at every checkpoint also answer the validation questions greedily, as the compressed mode does (accuracy is a
    # noisy but direct probe: the validation loss has ranked runs differently from accuracy)
    val_accuracy: bool = True
    seed: int = 0


@dataclass
class WindowExample:
    """A question with its selected ``windows``, the gold ``answer`` they hold (the training target) and every gold
    alias (``aliases``: accuracy accepts any of them, as the benchmark does; empty: ``answer`` alone)."""

    question: str
    answer: str
    windows: list[Window]
    answer_window: bool = False  # the last window was swapped for one around the answer (training only)
    aliases: tuple[str, ...] = ()

    @property
    def gold_answers(self) -> list[str]:
        return list(self.aliases) or [self.answer]


def window_examples(embedder: Any, scorer: WindowScorer | None, records: Sequence[QARecord],
                    hits: Sequence[Sequence[Hit]], window: WindowConfig, batch_size: int = 64,
                    progress: bool = True, layers: str = LAST_LAYER,
                    answer_windows: bool = False) -> list[WindowExample]:
    """The windows ``compressed`` would read for each record's retrieved ``hits`` (wordpiece states of the
    embedder ``layers``); records whose windows miss every gold answer are dropped, or, with ``answer_windows``,
    read a window around the answer instead of their last (:mod:`projector.answer_windows`; dropped only when no
    passage holds it). Each distinct passage is embedded once."""
    distinct = list(dict.fromkeys(h.text for hs in hits for h in hs))
    states = {}
    for s in tqdm(range(0, len(distinct), batch_size), desc="passage states", disable=not progress, unit="batch"):
        chunk = distinct[s:s + batch_size]
        states.update(zip(chunk, token_states(embedder, chunk, window.max_length, layers)))
    examples, width = [], window.resolved(scorer is not None).width
    for s in range(0, len(records), batch_size):
        chunk, chunk_hits = records[s:s + batch_size], hits[s:s + batch_size]
        texts = [[h.text for h in hs] for hs in chunk_hits]
        windows = windows_of_states(embedder, [r.question for r in chunk], texts,
                                    [[states[t] for t in ts] for ts in texts], window, scorer)
        for r, ws, ts in zip(chunk, windows, texts):
            answer = next((a for a in r.answers if has_answer(" ".join(w.text for w in ws), [a])), None)
            swapped = answer is None and answer_windows
            if swapped:
                ws, answer = with_answer_window(ws, ts, [states[t] for t in ts], r.answers, width) or (ws, None)
            if answer is not None:
                examples.append(WindowExample(r.question, answer, ws, swapped, tuple(r.answers)))
    return examples


def distill_loss(llm: LLM, projector: Projector, examples: Sequence[WindowExample],
                 config: DistillConfig) -> tuple[torch.Tensor, dict]:
    """NLL + ``kl_weight`` x KL(text teacher || soft student) on the answer tokens of ``examples`` (both read with
    the copy bias ``config.copy_bias``, if any). With ``kl_weight`` 0 a projector in training mode skips the
    teacher (a quarter of a step's compute) and reports no ``kl``; in eval mode the KL is always measured."""
    prompts, soft = student_prompts(llm, projector, examples, with_answer=True)
    student = P.assemble(llm, prompts, soft, with_labels=True)
    n_keep = int((student.labels != -100).sum(1).max())  # the answer's tokens, the same in the teacher's prompt
    copied = copy_token_ids(llm, examples) if config.copy_bias else []
    top = teacher_top_k(llm, examples, n_keep, copied, config) if config.kl_weight or not projector.training else None
    # one student forward serves both losses: the answer's logits are the last n_keep of the reading span's
    skip = projector.config.opening_prompt  # the reading loss starts at the first window token
    n_read = max(reading_span(prompts, skip), n_keep) if config.reading_weight else n_keep
    with projector.reading(llm):
        read_logits = target_logits(llm, student, n_read)
    logits = with_copy_bias(read_logits[:, -n_keep:], copied, config.copy_bias)
    mask, ids = target_mask_and_ids(student, n_keep)
    loss = loss_nll = nll(logits, ids, mask)
    parts = {"nll": loss_nll.item()}
    if top is not None:
        loss_kl = kl_top_k(logits, top.indices, top.values, mask, config.temperature)
        loss = loss + config.kl_weight * loss_kl
        parts["kl"] = loss_kl.item()
    if config.reading_weight:
        with torch.no_grad():  # the twin is read outside projector.reading: by the LLM as loaded, no adapter
            exact = [exact_twin_tokens(llm, projector, e.windows) for e in examples]
            twin = target_logits(llm, P.assemble(llm, prompts, exact), n_read)
        mask = reading_mask(prompts, n_read, skip)
        loss_read = reading_kl(read_logits, twin, mask, config.top_k, config.temperature)
        loss = loss + config.reading_weight * loss_read
        parts["reading"] = loss_read.item()
    return loss, {"loss": loss.item(), **parts}


@torch.no_grad()
def teacher_top_k(llm: LLM, examples: Sequence[WindowExample], n_keep: int, copied: list[set[int]],
                  config: DistillConfig) -> torch.return_types.topk:
    """The text teacher's top-``config.top_k`` log-probs on the last ``n_keep`` target positions of ``examples``
    (the windows as text, gold answer as target), each ``(batch, n_keep, top_k)``."""
    teacher = P.assemble(llm, [P.encode_prompt(llm, P.qa_message(e.question, [w.text for w in e.windows]),
                                               target=e.answer) for e in examples], with_labels=True)
    logits = with_copy_bias(target_logits(llm, teacher, n_keep), copied, config.copy_bias)
    return torch.log_softmax(logits, dim=-1).topk(config.top_k, dim=-1)


def student_prompts(llm: LLM, projector: Projector, examples: Sequence[WindowExample],
                    with_answer: bool) -> tuple[list[P.EncodedPrompt], list[torch.Tensor]]:
    """The soft-window prompts of ``examples`` (with the gold answer as target, for the loss, or without, to
    generate) and their soft tokens, each ``(n_soft_i, d_model)``."""
    prompts, soft = zip(*(soft_window_prompt(projector, llm, e.question, e.windows, e.answer if with_answer else None)
                          for e in examples))
    return list(prompts), list(soft)


def copy_token_ids(llm: LLM, examples: Sequence[WindowExample]) -> list[set[int]]:
    """The tokens a copy bias boosts for each of ``examples``: those of its window text, and the stop tokens, as
    the compressed mode boosts them when answering."""
    return [context_token_ids(llm.tokenizer, [w.text for w in e.windows], llm.stop_token_ids) for e in examples]


@torch.no_grad()
def greedy_answers(llm: LLM, projector: Projector, examples: Sequence[WindowExample], batch_size: int,
                   copy_bias: float = 0.0) -> list[str]:
    """What the frozen LLM answers to each of ``examples`` from its soft windows: greedy, as the compressed mode
    generates (``DEFAULT_MAX_NEW_TOKENS``, stopping at a newline, with the copy bias ``copy_bias``)."""
    projector.eval()
    texts: list[str] = []
    for s in range(0, len(examples), batch_size):
        chunk = examples[s:s + batch_size]
        prompts, soft = student_prompts(llm, projector, chunk, with_answer=False)
        batch = P.assemble(llm, prompts, soft)
        bias = [CopyBias(copy_token_ids(llm, chunk), copy_bias)] if copy_bias else []
        with projector.reading(llm):
            texts += llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, DEFAULT_MAX_NEW_TOKENS,
                                              logits_processors=bias).texts
    return texts


def validation_accuracy(llm: LLM, projector: Projector, examples: Sequence[WindowExample],
                        config: DistillConfig) -> dict:
    """``val_acc``: the share of ``examples`` whose greedy answer holds their gold answer (the benchmark's
    accuracy, with every gold alias, on the windows these examples read)."""
    texts = greedy_answers(llm, projector, examples, config.batch_size, config.copy_bias)
    return {"val_acc": sum(has_answer(t, e.gold_answers) for t, e in zip(texts, examples)) / len(examples)}


@torch.no_grad()
def validation_loss(llm: LLM, projector: Projector, examples: Sequence[WindowExample],
                    config: DistillConfig) -> dict:
    """Mean loss parts over ``examples`` (batches of ``config.batch_size``), projector in eval mode."""
    projector.eval()
    parts = [(distill_loss(llm, projector, examples[s:s + config.batch_size], config)[1],
              len(examples[s:s + config.batch_size])) for s in range(0, len(examples), config.batch_size)]
    return {f"val_{k}": sum(p[k] * n for p, n in parts) / len(examples) for k in parts[0][0]}


def batch_rows(step: int, n_examples: int, config: DistillConfig) -> list[int]:
    """Example rows of optimizer step ``step``: one seeded permutation per pass over the data."""
    per_pass = max(n_examples // config.batch_size, 1)
    order = np.random.default_rng(config.seed + step // per_pass).permutation(n_examples)
    start = (step % per_pass) * config.batch_size
    return order[start:start + config.batch_size].tolist()


def distill(projector: Projector, llm: LLM, train: Sequence[WindowExample], val: Sequence[WindowExample],
            config: DistillConfig, out_dir: str | Path, progress: bool = True,
            until: int | None = None) -> list[dict]:
    """Train ``projector`` in place; ``out_dir/checkpoint`` is written every ``checkpoint_every`` steps and a
    rerun with the same settings resumes from it (``until``: stop this call after that step). Returns the
    history: training loss parts per step and validation loss at every checkpoint."""
    checkpoint = Path(out_dir) / "checkpoint"
    trainable = {name: p.requires_grad for name, p in projector.named_parameters()}
    optimizer = distill_optimizer(projector, config)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    base_lrs = [group["base_lr"] for group in optimizer.param_groups]  # kept over a resume from older checkpoints
    step, history = 0, []
    if checkpoint.exists():
        state = load_checkpoint(checkpoint, projector, optimizer)
        if {**asdict(DistillConfig()), **state["config"]} != asdict(config):  # a field added since: its default
            raise ValueError(f"{checkpoint} was written with other distillation settings ({state['config']}); "
                             "use the same settings to resume, or a new --out directory")
        step, history = state["step"], state["history"]
        logger.info("resuming distillation at step %d", step)
    end = min(config.steps, until or config.steps)
    bar = tqdm(total=end, initial=step, desc="distill", disable=not progress, unit="step")
    while step < end:
        projector.train()
        for group, base_lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base_lr * lr_factor(step, config.steps, config.warmup)
        loss, parts = distill_loss(llm, projector, [train[i] for i in batch_rows(step, len(train), config)], config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        step += 1
        history.append({"step": step, **parts})
        bar.update(1)
        bar.set_postfix(loss=f"{parts['loss']:.3f}")
        if step % config.checkpoint_every == 0 or step == end:
            if val:
                history[-1].update(validation_loss(llm, projector, val, config))
                if config.val_accuracy:
                    history[-1].update(validation_accuracy(llm, projector, val, config))
                logger.info("distill step %d: %s", step, json.dumps(history[-1]))
            save_checkpoint(checkpoint, projector, optimizer, {"step": step, "history": history,
                                                               "config": asdict(config)})
    bar.close()
    for name, p in projector.named_parameters():  # freezing was for this run only
        p.requires_grad_(trainable[name])
    projector.eval()
    return history


def distill_optimizer(projector: Projector, config: DistillConfig) -> torch.optim.AdamW:
    """AdamW over what this run trains: the projector at ``lr``, its reading prompt at ``prompt_lr`` and its reader
    adapter at ``adapter_lr`` (each group's ``base_lr``, scaled by the schedule); with ``freeze_projector``, only
    the reader-side parts (prompt, adapter)."""
    prompt, adapter = projector.reading_prompt, projector.reader_adapter
    if config.freeze_projector and prompt is None and adapter is None:
        raise ValueError("freeze_projector trains only the reading prompt and reader adapter, and this projector has "
                         "neither: build it with --reading-prompt N or --reader-adapter RANK")
    for field, lr, part, what, flag in (
            ("prompt_lr", config.prompt_lr, prompt, "reading prompt", "reading_prompt > 0 (--reading-prompt N)"),
            ("adapter_lr", config.adapter_lr, adapter, "reader adapter", "one (--reader-adapter RANK)")):
        if lr is not None and part is None:
            raise ValueError(f"{field}={lr} sets the {what}'s learning rate, and this projector has no {what}: "
                             f"build it with {flag}")
    body = [p for name, p in projector.named_parameters()
            if name != "reading_prompt" and not name.startswith("reader_adapter.") and p.requires_grad
            and not config.freeze_projector]
    groups = [{"params": body, "base_lr": config.lr},
              {"params": [prompt] if prompt is not None else [], "base_lr": _or(config.prompt_lr, config.lr)},
              {"params": list(adapter.parameters()) if adapter is not None else [],
               "base_lr": _or(config.adapter_lr, config.lr)}]
    groups = [g for g in groups if g["params"]]
    for p in projector.parameters():
        p.requires_grad_(any(p is q for g in groups for q in g["params"]))
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
