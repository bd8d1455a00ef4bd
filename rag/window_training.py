"""Training the :class:`~rag.window_scorer.WindowScorer` on extractive QA data (SQuAD-format records).

Target: the passage wordpieces that overlap an occurrence of a gold answer in the gold context. Loss: the
negative log of the softmax mass on those wordpieces (marginal likelihood: any answer wordpiece will do, so
the scorer is not forced to pick one). The embedder is frozen; its states are computed once, up front.
Validation: how often the gold answer survives in the selected ``width``-wordpiece window of the gold
context, for the scorer and for the untrained max-sim rule, on whole held-out articles.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from eval.metrics import has_answer
from eval.records import QARecord
from projector.checkpoint import load_checkpoint, save_checkpoint
from rag.selection import WindowConfig, cut_windows, window_spans
from rag.token_states import TokenStates, token_states
from rag.window_scorer import WindowScorer, WindowScorerConfig, pad_states

logger = logging.getLogger(__name__)


@dataclass
class WindowTrainConfig:
    """Optimisation of one scorer run; ``width`` is the window used by the validation metric."""

    epochs: int = 12
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    width: int = 14
    seed: int = 0


@dataclass
class ScorerExample:
    """One question over its gold context: wordpiece states and the answer wordpieces ``targets``;
    ``others``: distractor paragraphs of the same article with their own answer wordpieces (usually none),
    scored in one softmax with the gold context so that logits compare across passages."""

    question: TokenStates
    passage: TokenStates
    targets: list[int]
    answers: list[str]
    text: str
    others: list[tuple[TokenStates, list[int]]] = field(default_factory=list)


def answer_char_spans(context: str, answers: Sequence[str]) -> list[tuple[int, int]]:
    """Character spans of every occurrence of each gold answer in ``context`` (case-insensitive, on word
    boundaries where the answer starts/ends with a word character)."""
    spans = []
    for answer in {a.strip() for a in answers if a.strip()}:
        pattern = (r"\b" if answer[0].isalnum() else "") + re.escape(answer) + (r"\b" if answer[-1].isalnum() else "")
        spans += [(m.start(), m.end()) for m in re.finditer(pattern, context, flags=re.IGNORECASE)]
    return sorted(set(spans))


def target_wordpieces(passage: TokenStates, spans: Sequence[tuple[int, int]]) -> list[int]:
    """Indices of the wordpieces whose character span overlaps one of ``spans``."""
    starts, ends = passage.spans[:, 0], passage.spans[:, 1]
    hit = np.zeros(len(starts), dtype=bool)
    for s, e in spans:
        hit |= (starts < e) & (ends > s)
    return np.flatnonzero(hit).tolist()


def build_examples(embedder: Any, records: Sequence[QARecord], max_length: int = 256, batch_size: int = 64,
                   progress: bool = True, negatives: int = 0, seed: int = 0) -> list[ScorerExample]:
    """Embed questions and (deduplicated) contexts once; drop records whose answer is not in the kept text.
    ``negatives``: distractor paragraphs per question, drawn (seeded) from the other paragraphs of its article."""
    records = [r for r in records if r.context and r.answers]
    contexts = sorted({r.context for r in records})
    states: dict[str, TokenStates] = {}
    for s in tqdm(range(0, len(contexts), batch_size), desc="embed contexts", disable=not progress):
        states.update(zip(contexts[s:s + batch_size], token_states(embedder, contexts[s:s + batch_size], max_length)))
    questions = []
    for s in tqdm(range(0, len(records), batch_size), desc="embed questions", disable=not progress):
        questions += token_states(embedder, [r.question for r in records[s:s + batch_size]], max_length)
    by_article: dict[str | None, dict[str, None]] = {}  # article -> its contexts, in order, deduplicated
    for r in records:
        by_article.setdefault(r.title, {})[r.context] = None
    rng = random.Random(seed)
    examples = []
    for record, question in zip(records, questions):
        passage = states[record.context]
        targets = target_wordpieces(passage, answer_char_spans(record.context, record.answers))
        if not targets:
            continue
        pool = [c for c in by_article[record.title] if c != record.context]
        others = [(states[c], target_wordpieces(states[c], answer_char_spans(c, record.answers)))
                  for c in rng.sample(pool, min(negatives, len(pool)))]
        examples.append(ScorerExample(question, passage, targets, list(record.answers), record.context, others))
    logger.info("%d of %d records have their answer inside the first %d wordpieces of the context",
                len(examples), len(records), max_length)
    return examples


def collate(examples: Sequence[ScorerExample]) -> dict[str, torch.Tensor]:
    """Padded batch of ``B`` questions with ``G`` passages each (gold first, then distractors; missing ones
    empty): passage ``(B*G, L, d)``, question ``(B*G, Q, d)`` (repeated), masks, and the target ``(B*G, L)``."""
    group = 1 + max(len(e.others) for e in examples)
    empty = examples[0].passage.states[:0]
    rows = [row for e in examples for row in
            [(e.passage.states, e.targets), *((p.states, t) for p, t in e.others)]
            + [(empty, [])] * (group - 1 - len(e.others))]
    passage, passage_mask = pad_states([states for states, _ in rows])
    question, question_mask = pad_states([e.question.states for e in examples for _ in range(group)])
    target = torch.zeros_like(passage_mask)
    for i, (_, targets) in enumerate(rows):
        target[i, targets] = True
    return {"passage": passage, "passage_mask": passage_mask, "question": question,
            "question_mask": question_mask, "target": target, "group": torch.tensor(group)}


def answer_mass_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``-log sum_{answer wordpieces} softmax(logits)``, averaged over the batch; logits ``(B, L)``."""
    log_probs = torch.log_softmax(logits, dim=-1)
    return -torch.logsumexp(log_probs.masked_fill(~target, float("-inf")), dim=-1).mean()


def batch_logits(scorer: WindowScorer, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Answer logits of a collated batch, one row per question over all its passages ``(B, G*L)``."""
    logits = scorer(batch["passage"], batch["passage_mask"], batch["question"], batch["question_mask"])
    return logits.reshape(-1, int(batch["group"]) * logits.shape[1])


def batch_loss(scorer: WindowScorer, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """:func:`answer_mass_loss` of a collated batch, one softmax per question over all its passages."""
    logits = batch_logits(scorer, batch)
    return answer_mass_loss(logits, batch["target"].reshape(logits.shape))


@torch.no_grad()
def window_recall(scorer: WindowScorer | None, examples: Sequence[ScorerExample], width: int) -> float:
    """Fraction of examples whose gold answer lies inside the selected window of the gold context
    (``scorer=None``: the untrained max-sim rule with its default shift)."""
    if not examples:
        return float("nan")
    spans = window_spans([e.question for e in examples], [[e.passage] for e in examples], WindowConfig(width=width),
                         scorer)
    return float(np.mean([has_answer(cut_windows(e.text, e.passage, ss), e.answers)
                          for e, (ss,) in zip(examples, spans)]))


@torch.no_grad()
def mean_loss(scorer: WindowScorer, examples: Sequence[ScorerExample], batch_size: int = 64) -> float:
    losses = [batch_loss(scorer, collate(examples[s:s + batch_size])).item() * len(examples[s:s + batch_size])
              for s in range(0, len(examples), batch_size)]
    return sum(losses) / max(len(examples), 1)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    return min(1.0, (step + 1) / max(warmup, 1)) * 0.5 * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0)))


def train_scorer(scorer: WindowScorer, train: list[ScorerExample], val: list[ScorerExample],
                 config: WindowTrainConfig, out_dir: str | Path, progress: bool = True,
                 stop_after: int | None = None) -> list[dict]:
    """Train in place, one checkpoint per epoch under ``out_dir/checkpoint``: a rerun resumes after the last
    finished epoch (``stop_after``: end this call after that many epochs, same schedule). Returns the
    per-epoch history, also written to ``out_dir/history.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(scorer.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    history: list[dict] = []
    checkpoint = out_dir / "checkpoint"
    if checkpoint.exists():
        state = load_checkpoint(checkpoint, scorer, optimizer)
        if state["config"] != asdict(config):
            raise ValueError(f"{checkpoint} was written with {state['config']}, not {asdict(config)}: resume with "
                             "the same settings, or train into a new --out folder")
        history = state["history"]
        logger.info("resumed %s after epoch %d", out_dir, len(history))
    for epoch in range(len(history), min(config.epochs, stop_after or config.epochs)):
        scorer.train()
        order = list(range(len(train)))
        random.Random(config.seed + epoch).shuffle(order)
        bar = tqdm(range(0, len(order), config.batch_size), desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=not progress)
        for i, s in enumerate(bar):
            step = epoch * steps_per_epoch + i
            for group in optimizer.param_groups:
                group["lr"] = config.lr * lr_factor(step, steps_per_epoch * config.epochs, config.warmup_steps)
            batch = collate([train[j] for j in order[s:s + config.batch_size]])
            loss = batch_loss(scorer, batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(scorer.parameters(), 1.0)
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        scorer.eval()
        history.append({"epoch": epoch + 1, "train_loss": mean_loss(scorer, train[:1000]),
                        "val_loss": mean_loss(scorer, val),
                        f"val_window_recall@{config.width}": window_recall(scorer, val, config.width)})
        logger.info("epoch %d: %s", epoch + 1, history[-1])
        save_checkpoint(checkpoint, scorer, optimizer, {"history": history, "config": asdict(config)})
        (out_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    return history


def new_scorer(embedder: Any, **shape: Any) -> WindowScorer:
    """A freshly initialised scorer (seed 0) for ``embedder``'s token states; ``shape``: config fields."""
    torch.manual_seed(0)
    return WindowScorer(WindowScorerConfig(d_embed=embedder.token_dim, embedder_id=embedder.id, **shape))
