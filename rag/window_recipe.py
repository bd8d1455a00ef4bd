"""The window-scorer recipe: split a SQuAD-format dataset by article, train, compare with the untrained rule.

``run_window_recipe`` writes ``OUT/final`` (the scorer: ``config.json`` + ``model.safetensors``), per-epoch
``history.json`` and ``report.json``: how often the gold answer survives in the selected window of the gold
context, scorer vs. the untrained max-sim rule, at several widths, on the held-out articles. Resumable: a
rerun continues after the last finished epoch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from eval.datasets import load_qa
from eval.records import filter_articles, without_articles
from rag.persistence import jsonable
from rag.window_training import WindowTrainConfig, build_examples, new_scorer, train_scorer, window_recall

logger = logging.getLogger(__name__)

# The README's validation articles (the projector's held-out split).
VALIDATION_ARTICLES = ("Chloroplast", "Construction", "Economic_inequality", "Normans", "Oxygen",
                       "Victoria_(Australia)")
# The README's second question set; the shipped scorer never saw them either.
SECOND_SET_ARTICLES = ("Teacher", "Victoria_and_Albert_Museum", "Immune_system", "Harvard_University",
                       "Steam_engine", "American_Broadcasting_Company")


@dataclass
class WindowRecipeConfig:
    """Data and model of one scorer run; ``held_out`` articles are evaluated but never trained on."""

    dataset: str
    val_articles: tuple[str, ...] = VALIDATION_ARTICLES
    held_out: tuple[str, ...] = SECOND_SET_ARTICLES
    embedder: str | None = None
    max_length: int = 256
    report_widths: tuple[int, ...] = (8, 10, 14)
    negatives: int = 0  # same-article distractor paragraphs per training question (one softmax over all)
    shape: dict = field(default_factory=dict)  # WindowScorerConfig fields (rank, hidden, kernel, dropout)
    train: WindowTrainConfig = field(default_factory=WindowTrainConfig)


def run_window_recipe(config: WindowRecipeConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Train a scorer on the articles outside ``val_articles`` and ``held_out``; returns ``out_dir/final``."""
    from indexer import load_embedder

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    embedder = load_embedder(config.embedder)
    records = load_qa(config.dataset)
    splits = {"train": without_articles(records, (*config.val_articles, *config.held_out)),
              "validation": filter_articles(records, config.val_articles)}
    if config.held_out:
        splits["held_out"] = filter_articles(records, config.held_out)
    examples = {name: build_examples(embedder, rs, config.max_length, progress=progress,
                                     negatives=config.negatives if name == "train" else 0, seed=config.train.seed)
                for name, rs in splits.items()}
    scorer = new_scorer(embedder, **config.shape)
    history = train_scorer(scorer, examples["train"], examples["validation"], config.train, out_dir, progress)
    scorer.eval()
    report = {name: {f"W={w}": {"scorer": window_recall(scorer, ex, w), "max-sim rule": window_recall(None, ex, w)}
                     for w in config.report_widths} | {"questions": len(ex)}
              for name, ex in examples.items() if name != "train"}
    scorer.config.training = {"recipe": jsonable(asdict(config)), "train_questions": len(examples["train"]),
                              "history": history, "window_recall": report}
    scorer.save_pretrained(out_dir / "final", dtype=torch.float16)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "final" / "README.md").write_text(model_card(config, len(examples["train"]), history, report))
    logger.info("window recall on held-out articles: %s", report)
    return out_dir / "final"


def model_card(config: WindowRecipeConfig, train_questions: int, history: list[dict], report: dict) -> str:
    """Markdown card of a scorer run: data, command, per-epoch history and window recall vs the rule."""
    recall_key = next(k for k in history[-1] if k.startswith("val_window_recall"))
    lines = ["# Window scorer", "",
             f"Reads the embedder's wordpiece states (`{config.embedder or 'all-MiniLM-L6-v2 (bundled)'}`) and says "
             "where in a passage the answer to a question is; `selected_text` keeps the k windows with the most "
             "predicted answer mass across the k retrieved passages (`rag/window_scorer.py`, "
             "`rag/window_allocation.py`).", "",
             f"- Data: `{Path(config.dataset).name}`, {train_questions} training questions (gold contexts) from "
             "every article except the validation and held-out ones below.",
             f"- Validation articles: {', '.join(config.val_articles)}.",
             f"- Held-out articles (reported only): {', '.join(config.held_out) or 'none'}.",
             f"- Shape: {config.shape or 'defaults'}; training: {asdict(config.train)}.",
             "- Reproduce: `squeezerag train-windows --out runs/window-scorer` (minutes on 2 CPU cores: the "
             "questions and contexts are embedded once, then an epoch takes ~11 s).",
             "", "## Training", "", f"| epoch | train loss | val loss | {recall_key} |", "| --- | --- | --- | --- |"]
    lines += [f"| {h['epoch']} | {h['train_loss']:.3f} | {h['val_loss']:.3f} | {h[recall_key]:.3f} |" for h in history]
    lines += ["", "## Does the gold answer survive in the window of its gold context?", "",
              "| split | questions | width | scorer | untrained max-sim rule |", "| --- | --- | --- | --- | --- |"]
    for split, rows in report.items():
        lines += [f"| {split} | {rows['questions']} | {w.removeprefix('W=')} | {r['scorer']:.3f} | "
                  f"{r['max-sim rule']:.3f} |" for w, r in rows.items() if w != "questions"]
    return "\n".join(lines) + "\n"

