"""The ``squeezerag train-wordpieces`` line that reproduces a window projector, written from the training record in
its config (the model card's Reproduce section)."""

from __future__ import annotations

import shlex
from dataclasses import fields

from projector.config import ProjectorConfig
from projector.reader_adapter import DEFAULT_TARGETS, target_names
from projector.window_distill import DistillConfig
from rag.defaults import SHARED_SQUAD


def reproduce_command(config: ProjectorConfig, out: str | None = None, init_from: str | None = None) -> str:
    """The ``squeezerag train-wordpieces`` line that reproduces this run into ``out`` (default
    ``runs/<encoding>``), starting from ``init_from`` (default: the recorded ``--init-from``). A continued run
    skips alignment, so its alignment flags are left out: they would be ignored."""
    recipe = config.training["recipe"]
    align, distill = recipe["align"], recipe["distill"]
    weight = align.get("vocabulary_weight", 0.0)
    continued = init_from or recipe.get("init_from")
    alignment = "" if continued else (
        f" --align-epochs {align['epochs']}"
        + (f" --align-vocabulary-weight {weight} --align-temperature {align['temperature']}" if weight else "")
        + (" --lexicon" if recipe.get("lexicon") else "")
        + (f" --coverage {recipe['coverage_min_count']}" if recipe.get("coverage_min_count") else "")
        + (" --numbers" if recipe.get("numbers") else ""))
    return (f"squeezerag train-wordpieces --out {out or 'runs/' + config.memory_encoding} "
            f"--encoding {config.memory_encoding}" + _data_and_models_flags(recipe)
            + alignment + f" --token-layers {config.token_layers} --demo-passages {recipe['demo_passages']}"
            + (f" --cloze {recipe['cloze']}" if recipe.get("cloze") else "")
            + (" --gold-passage" if recipe.get("gold_passage") else "")
            + (" --answer-windows" if recipe.get("answer_windows") else "")
            + (f" --teacher-targets {recipe['teacher_targets']}" if recipe.get("teacher_targets") else "")
            + (f" --max-pieces {config.max_pieces}"
               if config.reads_reader_tokens and config.max_pieces != _recipe_default("max_pieces") else "")
            + (" --read-case" if config.read_case else "")
            + (" --split-at-wordpieces" if config.split_at_wordpieces else "")
            + f" --hidden {config.hidden} --steps {distill['steps']} --batch-size {distill['batch_size']} "
            f"--lr {distill['lr']}"
            + (f" --kl-weight {distill['kl_weight']}"
               if distill.get("kl_weight", DistillConfig.kl_weight) != DistillConfig.kl_weight else "")
            + (f" --reading-weight {distill['reading_weight']}" if distill.get("reading_weight") else "")
            + (f" --copy-bias {distill['copy_bias']}" if distill.get("copy_bias") else "")
            + (f" --init-from {shlex.quote(continued)}" if continued else "")
            + (f" --reading-prompt {config.reading_prompt}" if config.reading_prompt else "")
            + (f" --closing-prompt {config.closing_prompt}" if config.closing_prompt else "")
            + (f" --answer-prompt {config.answer_prompt}" if config.answer_prompt else "")
            + (f" --merge-tokens {config.merge_tokens}" if config.merge_tokens > 1 else "")
            + (" --freeze-projector" if distill.get("freeze_projector") else "")
            + (f" --prompt-lr {distill['prompt_lr']}" if distill.get("prompt_lr") is not None else "")
            + (f" --reader-adapter {config.reader_adapter['rank']}" if config.reader_adapter else "")
            + _adapter_targets_flag(config)
            + (f" --adapter-dropout {config.reader_adapter['dropout']:g}" if config.reader_adapter.get("dropout")
               else "")
            + (f" --adapter-lr {distill['adapter_lr']}" if distill.get("adapter_lr") is not None else "")
            + (f" --seed {distill['seed']}" if distill.get("seed") else ""))  # one --seed sets both stages' seeds


def _recipe_default(name: str) -> object:
    """The default of one ``WordpieceRecipeConfig`` field (imported here: the recipe imports the card)."""
    from projector.wordpiece_recipe import WordpieceRecipeConfig

    return next(f.default for f in fields(WordpieceRecipeConfig) if f.name == name)


def _data_and_models_flags(recipe: dict) -> str:
    """The dataset, its splits, the models and the retrieval the run used, where they are not the defaults (records
    written before a field existed used its default)."""
    flags = "" if recipe["dataset"] == str(SHARED_SQUAD) else f" --dataset {shlex.quote(recipe['dataset'])}"
    for name in ("val_articles", "held_out"):
        if tuple(recipe.get(name, _recipe_default(name))) != tuple(_recipe_default(name)):
            flags += f" --{name.replace('_', '-')}" + "".join(f" {shlex.quote(a)}" for a in recipe[name])
    for name in ("embedder", "llm", "window_scorer", "window_width"):
        if recipe.get(name) is not None:
            flags += f" --{name.replace('_', '-')} {shlex.quote(str(recipe[name]))}"
    if recipe.get("k", _recipe_default("k")) != _recipe_default("k"):
        flags += f" --k {recipe['k']}"
    return flags


def _adapter_targets_flag(config: ProjectorConfig) -> str:
    """``--adapter-targets ...`` when the adapter tunes other layers than the default (attention's four)."""
    targets = target_names(config.reader_adapter.get("modules", {}))
    return f" --adapter-targets {' '.join(targets)}" if targets and targets != sorted(DEFAULT_TARGETS) else ""
