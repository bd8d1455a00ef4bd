"""The window projector recipe (``wordpieces`` or ``reader_tokens``): alignment pretraining, then QA distillation
on the windows ``compressed`` reads, split by article like the window scorer's recipe.

``run_wordpiece_recipe`` writes ``OUT/aligned`` (the projector after alignment, with ``align.json``),
``OUT/distill/checkpoint`` (resumable) and ``OUT/final`` (fp16 weights, ``config.json`` with the whole training
record, a model card). A rerun skips a finished alignment and resumes distillation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from eval.datasets import load_qa
from eval.records import QARecord, filter_articles, without_articles
from projector.alignment import (
    AlignConfig,
    TokenLayout,
    align,
    alignment_pairs,
    nearest_token_agreement,
    unit_vocabulary,
)
from projector.answer_windows import with_gold_passage
from projector.cloze import cloze_records
from projector.config import READER_TOKENS, WINDOW_ENCODINGS, WORDPIECES, ProjectorConfig
from projector.coverage import coverage_sentences, number_texts
from projector.lexicon import lexicon_texts
from projector.model import Projector
from projector.reader_adapter import DEFAULT_TARGETS, reader_adapter_spec
from projector.teacher_answers import TEACHER_TARGETS, cached_teacher_answers, with_teacher_targets
from projector.window_distill import DistillConfig, WindowExample, distill, window_examples
from projector.wordpiece_card import lineage_record, wordpiece_card
from rag.persistence import CONFIG_FILE, WEIGHTS_FILE, jsonable
from rag.prompt import PROMPT_VERSION, READING_PROMPT_START
from rag.selection import WindowConfig
from rag.token_states import LAST_LAYER, check_token_layers, projector_input_dim
from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES

if TYPE_CHECKING:
    from rag.window_scorer import WindowScorer

logger = logging.getLogger(__name__)


@dataclass
class WordpieceRecipeConfig:
    """Data, models and optimisation of one run; ``held_out`` articles are never trained on."""

    dataset: str
    val_articles: tuple[str, ...] = VALIDATION_ARTICLES
    held_out: tuple[str, ...] = SECOND_SET_ARTICLES
    embedder: str | None = None
    llm: str | None = None
    window_scorer: str | None = None  # None: the shipped scorer (the untrained rule if there is none)
    hidden: int = 1024
    encoding: str = WORDPIECES  # or READER_TOKENS: one soft token per LLM token of the window text
    max_pieces: int = 8  # reader_tokens: a reader token's index within its wordpiece is capped here
    read_case: bool = False  # reader_tokens: also tell the projector each reader token's case
    split_at_wordpieces: bool = False  # reader_tokens: no reader token spans two wordpieces (projector.reader_tokens)
    token_layers: str = LAST_LAYER  # or ALL_LAYERS: every embedder hidden state per wordpiece, concatenated
    demo_passages: int = 2000  # bundled Wikipedia summaries added to the training paragraphs for alignment
    lexicon: bool = False  # also align on every whole-word token of the reader's vocabulary (projector.lexicon)
    # also align on sentences of the other bundled summaries that hold a wordpiece seen fewer times (0: off), and
    # on every number the embedder has a wordpiece for (projector.coverage)
    coverage_min_count: int = 0
    numbers: bool = False
    # cloze questions cut from the bundled summaries not aligned on, added to the distillation data (projector.cloze)
    cloze: int = 0
    # training questions whose retrieval missed their gold paragraph read it in place of the last hit
    # (validation keeps plain retrieval, as at inference)
    gold_passage: bool = False
    # training questions whose windows still miss the answer read a window around it instead of their last one
    # (projector.answer_windows)
    answer_windows: bool = False
    # train on the text teacher's own greedy answers instead of the gold span: "right" (where they hold a gold
    # answer) or "all" (projector.teacher_answers); "": the gold span
    teacher_targets: str = ""
    k: int = 3
    window_width: int | None = None
    init_from: str | None = None  # a projector folder of the same encoding to continue from (alignment is skipped)
    reading_prompt: int = 0  # learned soft tokens before the first window (ProjectorConfig.reading_prompt)
    closing_prompt: int = 0  # of those, how many go after the last window instead (ProjectorConfig.closing_prompt)
    answer_prompt: int = 0  # and how many after the question (ProjectorConfig.answer_prompt)
    merge_tokens: int = 1  # window tokens per soft token (ProjectorConfig.merge_tokens); > 1 needs init_from
    reader_adapter: int = 0  # rank of low-rank deltas on the LLM's linear layers, active only in compressed (0: none)
    adapter_targets: tuple[str, ...] = DEFAULT_TARGETS  # which of its linear layers (last name part) get one
    adapter_dropout: float = 0.0  # dropout on each delta's input while training (PEFT's lora_dropout)
    align: AlignConfig = field(default_factory=AlignConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def __post_init__(self) -> None:
        if self.encoding not in WINDOW_ENCODINGS:  # before minutes of loading and indexing, not after
            raise ValueError(f"encoding must be one of {WINDOW_ENCODINGS}, got '{self.encoding}'")
        check_token_layers(self.token_layers)
        if self.distill.reading_weight and self.encoding != READER_TOKENS:
            raise ValueError("reading distillation (distill.reading_weight) needs --encoding reader_tokens: only "
                             "that encoding writes one soft token per reader token")
        if self.distill.freeze_projector and not ((self.reading_prompt or self.reader_adapter) and self.init_from):
            raise ValueError("--freeze-projector trains only a reading prompt and a reader adapter on a finished "
                             "projector: pass --reading-prompt N or --reader-adapter RANK, and --init-from a "
                             "projector folder")
        if min(self.closing_prompt, self.answer_prompt) < 0 or \
                self.closing_prompt + self.answer_prompt > self.reading_prompt:
            raise ValueError(f"--closing-prompt {self.closing_prompt} and --answer-prompt {self.answer_prompt} move "
                             f"that many of the --reading-prompt {self.reading_prompt} tokens after the last window "
                             "and after the question: each must be >= 0 and together no more than it")
        if self.merge_tokens > 1 and not self.init_from:
            raise ValueError(f"--merge-tokens {self.merge_tokens}: alignment pairs each soft token with one token, "
                             "so a merging projector starts from a trained one: pass --init-from a projector folder")
        if self.merge_tokens > 1 and self.distill.reading_weight:
            raise ValueError("reading distillation compares each soft token with its exact token: use "
                             "--reading-weight or --merge-tokens, not both")
        if self.distill.prompt_lr is not None and not self.reading_prompt:
            raise ValueError("--prompt-lr is the reading prompt's learning rate: pass --reading-prompt N with it")
        if self.distill.adapter_lr is not None and not self.reader_adapter:
            raise ValueError("--adapter-lr is the reader adapter's learning rate: pass --reader-adapter RANK with it")
        if self.reader_adapter < 0:
            raise ValueError(f"--reader-adapter {self.reader_adapter}: the adapter's rank is >= 1 (0: no adapter)")
        if (tuple(self.adapter_targets) != DEFAULT_TARGETS or self.adapter_dropout) and not self.reader_adapter:
            raise ValueError("--adapter-targets and --adapter-dropout set up the reader adapter: pass "
                             "--reader-adapter RANK with them")
        if self.teacher_targets not in ("", *TEACHER_TARGETS):
            raise ValueError(f"--teacher-targets {self.teacher_targets}: one of {TEACHER_TARGETS}")
        if not 0.0 <= self.adapter_dropout < 1.0:
            raise ValueError(f"--adapter-dropout {self.adapter_dropout}: a probability in [0, 1), e.g. 0.1")


def recipe_window_examples(config: WordpieceRecipeConfig, embedder: Any, scorer: WindowScorer | None,
                           records: Sequence[QARecord], training: bool, progress: bool = True) -> list[WindowExample]:
    """``records`` as the recipe reads them: top-``k`` retrieval over their own paragraphs, the windows selected
    in them, only questions whose windows hold a gold answer (``training``: with the gold-passage and answer-window
    options the recipe asks for)."""
    from eval.dataset_index import dataset_index

    hits = dataset_index(records, embedder=embedder, progress=progress).search([r.question for r in records],
                                                                              k=config.k)
    if training and config.gold_passage:
        hits = with_gold_passage(records, hits)
    return window_examples(embedder, scorer, records, hits, WindowConfig(width=config.window_width),
                           progress=progress, layers=config.token_layers,
                           answer_windows=training and config.answer_windows)


def run_wordpiece_recipe(config: WordpieceRecipeConfig, out_dir: str | Path, progress: bool = True,
                         until: int | None = None) -> Path:
    """Align, then distil; returns ``out_dir/final`` (or ``out_dir`` when ``until`` stopped distillation early)."""
    from indexer import load_embedder
    from rag.defaults import load_demo_corpus
    from rag.demo_index import default_window_scorer_dir
    from rag.llm import LLM
    from rag.window_scorer import WindowScorer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.distill.seed)
    llm = LLM.load(config.llm)
    llm.model.requires_grad_(False)
    embedder = load_embedder(config.embedder)
    scorer_dir = config.window_scorer or default_window_scorer_dir()
    scorer = WindowScorer.from_pretrained(scorer_dir) if scorer_dir else None
    records = load_qa(config.dataset)
    train = without_articles(records, (*config.val_articles, *config.held_out))
    val = filter_articles(records, config.val_articles)
    reader_tokens = config.encoding == READER_TOKENS
    projector = Projector(ProjectorConfig(
        d_embed=projector_input_dim(embedder, config.token_layers), d_model=llm.hidden_size, tokens_per_vector=1,
        hidden=config.hidden, memory_encoding=config.encoding, embedder_id=embedder.id, llm_id=llm.id,
        target_norm=llm.embedding_norm, max_pieces=config.max_pieces if reader_tokens else 0,
        token_layers=config.token_layers, read_case=config.read_case,
        split_at_wordpieces=config.split_at_wordpieces, reading_prompt=config.reading_prompt,
        closing_prompt=config.closing_prompt, answer_prompt=config.answer_prompt, merge_tokens=config.merge_tokens,
        reader_adapter=reader_adapter_spec(llm.model, config.reader_adapter, config.adapter_targets,
                                           dropout=config.adapter_dropout)
        if config.reader_adapter else {}))
    if config.reading_prompt:
        start = llm.tokenizer(READING_PROMPT_START, add_special_tokens=False, return_tensors="pt").input_ids[0]
        projector.init_reading_prompt(llm.embed(start.to(llm.device)).float())
    if config.init_from:
        projector.load_weights_from(config.init_from, continuing=True)
        init_config = ProjectorConfig.load(Path(config.init_from) / CONFIG_FILE)
        alignment, prompt_continued = init_config.training["alignment"], bool(init_config.reading_prompt)
        steps = lineage_record(init_config, str(config.init_from))
    else:
        alignment = aligned_projector(projector, llm, embedder, train, config, out / "aligned", progress)
        prompt_continued, steps = False, []
    window = WindowConfig(width=config.window_width)
    cloze = cloze_records(load_demo_corpus()[config.demo_passages:], config.cloze, config.distill.seed) \
        if config.cloze else []
    splits: dict[str, list] = {"cloze": []}
    for name, rs in (("train", train), ("validation", val), *((("cloze", cloze),) if cloze else ())):
        splits[name] = recipe_window_examples(config, embedder, scorer, rs, training=name == "train",
                                              progress=progress)
        logger.info("%s: %d of %d questions keep a gold answer in their windows (%d through an answer window)", name,
                    len(splits[name]), len(rs), sum(e.answer_window for e in splits[name]))
    n_teacher = 0
    if config.teacher_targets:
        answers = cached_teacher_answers(llm, splits["train"], out / "teacher_answers.json",
                                         config.distill.batch_size, progress)
        splits["train"], n_teacher = with_teacher_targets(splits["train"], answers, config.teacher_targets)
        logger.info("train: %d of %d targets are the text teacher's answers", n_teacher, len(splits["train"]))
    history = distill(projector, llm, splits["train"] + splits["cloze"],
                      splits["validation"][:config.distill.val_questions],
                      config.distill, out / "distill", progress, until)
    if history[-1]["step"] < config.distill.steps:
        return out
    projector.config.prompt_version = PROMPT_VERSION
    projector.config.training = {
        "recipe": jsonable(asdict(config)), "alignment": alignment, "window_scorer": str(scorer_dir or ""),
        "window": asdict(window.resolved(scorer is not None)),
        "questions": {"train": len(train), "train_with_answer_in_windows": len(splits["train"]),
                      "train_answer_windows": sum(e.answer_window for e in splits["train"]),
                      "train_teacher_targets": n_teacher,
                      "validation": len(val), "cloze": len(cloze),
                      "cloze_with_answer_in_windows": len(splits["cloze"])},
        "history": history, "distill_environment": distill_environment(llm),
        "prompt_continued": prompt_continued, **({"lineage": steps} if steps else {})}
    final = out / "final"
    projector.save_pretrained(final, dtype=torch.float16)
    (out / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    (final / "README.md").write_text(wordpiece_card(projector.config))
    return final


def distill_environment(llm) -> dict:
    """Where distillation ran (device, LLM dtype, library versions): a bf16 CUDA run and an fp32 CPU run differ."""
    from eval.environment import library_versions

    device = str(llm.device)
    if llm.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(llm.device)})"
    versions = library_versions()
    return {"device": device, "dtype": str(llm.dtype).removeprefix("torch."),
            **{k: versions[k] for k in ("torch", "transformers") if k in versions}}


def aligned_projector(projector: Projector, llm, embedder, train, config: WordpieceRecipeConfig, folder: Path,
                      progress: bool) -> dict:
    """Run (or reload) alignment pretraining into ``projector``; returns its report (loss per epoch, agreement)."""
    if (folder / WEIGHTS_FILE).exists():
        projector.load_weights_from(folder)
        return json.loads((folder / "align.json").read_text())
    from rag.defaults import load_demo_corpus

    summaries = [d["text"] for d in load_demo_corpus()] if config.demo_passages or config.coverage_min_count else []
    texts = list(dict.fromkeys(r.context for r in train)) + summaries[:config.demo_passages]
    words = lexicon_texts(llm.tokenizer) if config.lexicon else []
    mined = coverage_sentences(embedder.tokenizer, texts + words, summaries[config.demo_passages:],
                               config.coverage_min_count) if config.coverage_min_count else []
    numbers = number_texts(embedder.tokenizer) if config.numbers else []
    pairs = alignment_pairs(llm, embedder, texts + words + mined + numbers, TokenLayout.of(projector.config),
                            progress=progress)
    # every 20th row of the passages measures the fit; every word is trained on (a held-out word is never seen)
    held = (pairs.text_ids < len(texts)) & (torch.arange(len(pairs)) % 20 == 0)
    vocabulary = unit_vocabulary(llm, projector.device) if config.align.vocabulary_weight else None
    history = align(projector, pairs, config.align, progress, rows=(~held).nonzero().flatten(), vocabulary=vocabulary)
    report = {"texts": len(texts), "lexicon_words": len(words), "coverage_sentences": len(mined),
              "number_texts": len(numbers), "rows": len(pairs), "history": history,
              "nearest_token_agreement": nearest_token_agreement(llm, projector, pairs.rows(held))}
    logger.info("alignment: nearest-token agreement %.3f on held-out rows", report["nearest_token_agreement"])
    projector.save_pretrained(folder)
    (folder / "align.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
