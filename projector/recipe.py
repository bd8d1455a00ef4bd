"""The recipe behind the shipped default projector, runnable end to end and resumable.

Stage 1 (paraphrase) on demo-corpus summaries and SQuAD training paragraphs; stage 2 (QA with
self-distillation) on SQuAD questions of the training articles, plus PISCO-style extra questions about corpus
passages (corpus descriptions and full-text-teacher answers). Validation: whole held-out SQuAD articles.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from projector.config import ProjectorConfig
from projector.data import (
    Example,
    PassageTable,
    build_passage_table,
    description_examples,
    paraphrase_examples,
    squad_examples,
    with_distractors,
)
from projector.model import Projector
from projector.teacher_cache import TeacherCache
from projector.train import TrainConfig, Trainer, seed_everything

logger = logging.getLogger(__name__)


@dataclass
class RecipeConfig:
    """Everything that defines a projector training run (saved beside the weights)."""

    squad_path: str
    encoding: str = "pooled"
    tokens_per_vector: int = 4
    hidden: int = 1024
    val_articles: int = 6
    stage1_passages: int = 1200
    max_target_tokens: int = 48
    sources: tuple[str, ...] = ("squad", "description")
    n_description: int = 800
    n_teacher: int = 0
    n_distractor_examples: int = 400
    distractor_k: int = 3
    llm: str | None = None
    embedder: str | None = None
    llm_dtype: str | None = None
    init_from: str | None = None  # projector folder or stage checkpoint to start from (continue training)
    seed: int = 0
    stage1: TrainConfig = field(default_factory=lambda: TrainConfig(stage="paraphrase", lr=1e-3, batch_size=8))
    stage2: TrainConfig = field(default_factory=lambda: TrainConfig(stage="qa", lr=5e-4, batch_size=8))

    @classmethod
    def from_json(cls, path: str | Path) -> RecipeConfig:
        """Read a run's ``recipe.json`` (unknown keys from newer versions are refused by the dataclass)."""
        data = json.loads(Path(path).read_text())
        data["sources"] = tuple(data["sources"])
        data["stage1"], data["stage2"] = TrainConfig(**data["stage1"]), TrainConfig(**data["stage2"])
        return cls(**data)


@dataclass
class RecipeData:
    table: PassageTable
    stage1: list[Example]
    stage2: list[Example]
    val: list[Example]
    val_articles: list[str]
    counts: dict


def prepare_data(cfg: RecipeConfig, llm, embedder, cache: Path, progress: bool = True) -> RecipeData:
    """Passage table (memory vectors cached in ``cache``) and the examples of both stages."""
    from eval.datasets import load_qa
    from eval.records import split_by_article
    from rag.defaults import load_demo_corpus

    records = load_qa(cfg.squad_path)
    train, val = split_by_article(records, cfg.val_articles, seed=cfg.seed)
    contexts = list(dict.fromkeys(r.context for r in records if r.context))
    title_of = {r.context: r.title or "" for r in records}
    rng = random.Random(cfg.seed)
    demo = load_demo_corpus()
    rng.shuffle(demo)
    n_demo = cfg.stage1_passages + cfg.n_description + cfg.n_teacher
    demo = demo[:n_demo]
    titles = [title_of[c] for c in contexts] + [d["title"] for d in demo]
    texts = contexts + [d["text"] for d in demo]
    table = _cached_table(cache, embedder, titles, texts, cfg.encoding, progress)
    row_of = {c: i for i, c in enumerate(contexts)}
    demo_rows = list(range(len(contexts), len(texts)))

    val_contexts = {r.context for r in val}
    train_ctx_rows = [row_of[c] for c in contexts if c not in val_contexts]
    s1_rows = demo_rows[:cfg.stage1_passages] + train_ctx_rows
    stage1 = paraphrase_examples(table, s1_rows, llm.tokenizer, cfg.max_target_tokens, seed=cfg.seed)

    stage2: list[Example] = []
    counts: dict = {"stage1_paraphrase": len(stage1)}
    if "squad" in cfg.sources:
        squad = squad_examples(train, row_of)
        distract = with_distractors(rng.sample(squad, min(cfg.n_distractor_examples, len(squad))),
                                    len(contexts), cfg.distractor_k, seed=cfg.seed)
        # Distractors come from training paragraphs only: validation articles stay unseen.
        distract = [e for e in distract if not any(texts[r] in val_contexts for r in e.passages)]
        stage2 += squad + distract
        counts.update(squad=len(squad), squad_distractors=len(distract))
    if "description" in cfg.sources:
        rows = demo_rows[cfg.stage1_passages:cfg.stage1_passages + cfg.n_description]
        desc = description_examples(table, rows, [demo[r - len(contexts)]["description"] for r in rows])
        stage2 += desc
        counts["description"] = len(desc)
    if "teacher" in cfg.sources and cfg.n_teacher:
        start = cfg.stage1_passages + cfg.n_description
        teacher = _cached_teacher_examples(cache / f"teacher-{cfg.n_teacher}.json", llm, table,
                                           demo_rows[start:start + cfg.n_teacher], progress)
        stage2 += teacher
        counts["teacher"] = len(teacher)
    val_examples = squad_examples(val, row_of)
    counts["val"] = len(val_examples)
    return RecipeData(table, stage1, stage2, val_examples, sorted({r.title for r in val if r.title}), counts)


PASSAGES_FILE = "passages.json"  # titles and texts of the cached table, in row order


def memory_cache_file(cache: Path, encoding: str) -> Path:
    """Where a run's ``data/`` cache keeps the passage table's memory vectors in ``encoding``."""
    return cache / f"memory.{encoding.replace(':', '-')}.npy"


def _cached_table(cache: Path, embedder, titles: list[str], texts: list[str], encoding: str,
                  progress: bool) -> PassageTable:
    """Memory vectors are the slow part of data preparation: keep them across resumed runs."""
    path, meta = memory_cache_file(cache, encoding), cache / PASSAGES_FILE
    if path.exists() and meta.exists() and json.loads(meta.read_text())["texts"] == texts:
        return PassageTable(titles, texts, np.load(path), encoding)
    table = build_passage_table(embedder, titles, texts, encoding, progress=progress)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, table.memory)
    meta.write_text(json.dumps({"titles": titles, "texts": texts}))
    return table


def _cached_teacher_examples(path: Path, llm, table: PassageTable, rows: list[int], progress: bool) -> list[Example]:
    """The teacher's greedy answers cost a generation each: compute them once per run directory."""
    from projector.teacher import teacher_answer_examples

    if path.exists():
        saved = json.loads(path.read_text())
        if saved["rows"] == rows:
            return [Example(**e) for e in saved["examples"]]
    examples = teacher_answer_examples(llm, table, rows, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": rows, "examples": [asdict(e) for e in examples]}))
    return examples


def run_recipe(cfg: RecipeConfig, out_dir: str | Path, progress: bool = True, until: int | None = None) -> Path:
    """Train stage 1 then stage 2 into ``out_dir``; returns the final projector folder.

    Resumable: each stage checkpoints under ``out_dir/stage{1,2}`` and a finished stage is not redone.
    ``until`` caps the total number of optimizer steps done by this call (to run in parts).
    """
    from indexer import load_embedder
    from rag.llm import LLM

    out = Path(out_dir)
    seed_everything(cfg.seed)
    llm = LLM.load(cfg.llm, dtype=cfg.llm_dtype)
    embedder = load_embedder(cfg.embedder)
    data = prepare_data(cfg, llm, embedder, out / "data", progress)
    proj = Projector(ProjectorConfig(
        d_embed=int(data.table.memory.shape[2]), d_model=llm.hidden_size, tokens_per_vector=cfg.tokens_per_vector,
        hidden=cfg.hidden, memory_encoding=cfg.encoding, embedder_id=embedder.id, llm_id=llm.id,
        target_norm=llm.embedding_norm))
    if cfg.init_from:
        proj.load_weights_from(cfg.init_from)
        logger.info("Initialised the projector from %s", cfg.init_from)
    (out / "recipe.json").write_text(json.dumps(asdict(cfg), indent=1))
    budget = until
    for name, train_cfg, examples in (("stage1", cfg.stage1, data.stage1), ("stage2", cfg.stage2, data.stage2)):
        # A fixed slice keeps per-epoch validation cheap; the benchmark measures the whole split.
        teacher = (TeacherCache(out / "data" / "teacher-topk.safetensors", llm, train_cfg.kl_top_k)
                   if train_cfg.stage == "qa" else None)
        trainer = Trainer(proj, llm, data.table, examples, train_cfg, out / name, val_examples=data.val[:160],
                          teacher=teacher)
        done = _finished_steps(out / name)
        if trainer.total_steps == 0:
            continue
        if done >= trainer.total_steps:
            trainer.load(out / name / "checkpoint")
            continue
        stop = None if budget is None else done + budget
        trainer.fit(progress=progress, until=stop)
        if budget is not None:
            budget -= trainer.step - done
        if trainer.step < trainer.total_steps:
            logger.info("Stopped at %s step %d/%d; run again to resume", name, trainer.step, trainer.total_steps)
            return out
    return _save_final(proj, cfg, data, out)


def _finished_steps(stage_dir: Path) -> int:
    state = stage_dir / "checkpoint" / "trainer_state.json"
    return json.loads(state.read_text())["trainer"]["step"] if state.exists() else 0


def _save_final(proj: Projector, cfg: RecipeConfig, data: RecipeData, out: Path) -> Path:
    import torch

    from rag.prompt import PROMPT_VERSION

    proj.config.prompt_version = PROMPT_VERSION
    proj.config.training = {"recipe": asdict(cfg), "data_counts": data.counts,
                            "val_articles": data.val_articles,
                            "history": {s: _read_history(out / s) for s in ("stage1", "stage2")}}
    final = out / "final"
    proj.save_pretrained(final, dtype=torch.float16)
    logger.info("Saved projector to %s", final)
    return final


def _read_history(stage_dir: Path) -> list[dict]:
    path = stage_dir / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
