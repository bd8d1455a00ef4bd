"""Model card (README.md) of a window projector (``wordpieces``, ``reader_tokens``), written from the training
record in its config."""

from __future__ import annotations

from pathlib import Path

from projector.config import ProjectorConfig
from projector.reader_adapter import target_names
from projector.wordpiece_command import reproduce_command
from rag.token_states import ALL_LAYERS


def wordpiece_card(config: ProjectorConfig) -> str:
    """Markdown: what the projector reads and writes, its data, alignment and distillation curves, and the
    command that reproduces it."""
    t = config.training
    recipe, align, distill = t["recipe"], t["alignment"], t["recipe"]["distill"]
    checkpoints = distill_checkpoints(t["history"])
    rows = align.get("rows", align.get("wordpieces"))  # "wordpieces": records written before reader_tokens
    if config.reads_reader_tokens:
        unit, reads = "reader token", (
            "writes one soft token per LLM token of the window text"
            + (" tokenised one embedder wordpiece at a time (no token spans two wordpieces)"
               if config.split_at_wordpieces else "")
            + ": each gets the overlap-weighted mean state of "
            "the wordpieces sharing its characters plus a learned embedding of its index within its wordpiece "
            f"(up to {config.max_pieces})" + (" and of its case (lower, capitalised, all capitals: the embedder may "
                                               "be uncased)" if config.read_case else ""))
        target = "exactly that LLM token's input embedding"
    else:
        unit, reads = "wordpiece", "writes one soft token per wordpiece"
        target = "the overlap-weighted mean LLM input embedding of the characters it covers"
    weight = recipe["align"].get("vocabulary_weight", 0.0)
    reading = distill.get("reading_weight", 0.0)
    if weight:
        target += (f", plus {weight} x the cross-entropy of that token among the reader's whole vocabulary "
                   f"(cosine / {recipe['align']['temperature']} as logits)")
    layers = ("every hidden state of the embedder (embeddings output and each layer, normalised and concatenated)"
              if config.token_layers == ALL_LAYERS else "the embedder's last-layer states")
    lines = [
        f"# squeezerag projector: {config.embedder_id} -> {config.llm_id} (`{config.memory_encoding}`)", "",
        f"Reads {layers} per wordpiece ({config.d_embed}-d) of the question-aware windows that "
        f"`selected_text` also uses (window scorer, global allocation) and {reads}"
        + (f", except that every {config.merge_tokens} consecutive such tokens of a window are merged into one soft "
           "token (their LayerNormed inputs concatenated)" if config.merge_tokens > 1 else "")
        + f" ({config.d_model}-d): LayerNorm -> Linear({config.d_embed * config.merge_tokens}, {config.hidden}) -> "
        "GELU -> Linear -> "
        f"L2-normalise x LLM embedding norm ({config.target_norm:.3f}). Prompt version `{config.prompt_version}`. "
        "Weights fp16.", "",
        f"- Windows: {t['window']}; scorer `{Path(t['window_scorer']).name or 'none (max-sim rule)'}`; top-{recipe['k']} "
        "retrieval over each split's own paragraphs.",
        f"- Data: `{Path(recipe['dataset']).name}` minus the validation articles ({', '.join(recipe['val_articles'])}) "
        f"and the held-out second set ({', '.join(recipe['held_out'])}).",
        *([f"- Continued from `{recipe['init_from']}` ("
           + (f"step {len(t['lineage'])} under Reproduce; " if t.get("lineage") else "")
           + "alignment below is that projector's; the first distillation table is this run's)."]
          if recipe.get("init_from") else []),
        *([f"- Reading prompt: {config.reading_prompt} learned soft tokens "
           + _prompt_layout(config)
           + ("continued from that projector's trained prompt" if t.get("prompt_continued")
              else "started from the embeddings of a short instruction")
           + (" and trained alone (the projector frozen)" if distill.get("freeze_projector") else "")
           + (f", lr {distill['prompt_lr']} (the projector's: {distill['lr']})" if distill.get("prompt_lr") is not None else "")
           + "."]
          if config.reading_prompt else []),
        *([f"- Reader adapter: rank-{config.reader_adapter['rank']} deltas (alpha {config.reader_adapter['alpha']:g}"
           + (f", dropout {config.reader_adapter['dropout']:g} in training" if config.reader_adapter.get("dropout")
              else "") + ") "
           f"on {len(config.reader_adapter['modules'])} linear layers of the LLM "
           f"({', '.join(target_names(config.reader_adapter['modules']))}), attached only "
           "while it reads these soft tokens (every other mode reads with the LLM as loaded)"
           + (", trained with the projector frozen" if distill.get("freeze_projector") else "")
           + (f", lr {distill['adapter_lr']}" if distill.get("adapter_lr") is not None else "") + "."]
          if config.reader_adapter else []),
        "", "## 1. Alignment (no LLM in the loop)", "",
        f"Each {unit}'s soft token is pulled (cosine) towards {target}: {rows:,} {unit}s of {align['texts']:,} "
        "passages (training "
        f"paragraphs + {recipe['demo_passages']} bundled Wikipedia summaries)"
        + (f" and {align['lexicon_words']:,} whole words of the LLM's vocabulary, each read alone"
           if align.get("lexicon_words") else "")
        + (f"; {align['coverage_sentences']:,} sentences of the other summaries that hold an embedder wordpiece seen "
           + (f"fewer than {recipe['coverage_min_count']} times" if recipe.get("coverage_min_count")
              else "rarely (the count is on that projector's card)") if align.get("coverage_sentences") else "")
        + (f"; {align['number_texts']:,} short texts spelling out numbers" if align.get("number_texts") else "")
        + f", {len(align['history'])} epochs.", "",
        *_alignment_table(align["history"]), "",
        f"Nearest vocabulary token of the soft token = that of the target, on every 20th (held-out) {unit}: "
        f"**{align['nearest_token_agreement']:.3f}**.", "",
        "## 2. QA distillation", "",
        f"{t['questions']['train_with_answer_in_windows']:,} of {t['questions']['train']:,} training questions keep a "
        "gold answer in their windows"
        + (" (a question whose retrieval missed its gold paragraph reads it in place of the last retrieved one)"
           if recipe.get("gold_passage") else "")
        + (f", {t['questions']['train_answer_windows']:,} of them through a window around the answer in place of "
           "their last one (their own windows missed it)" if recipe.get("answer_windows") else "")
        + (f"; the target of {t['questions']['train_teacher_targets']:,} of them is the frozen LLM's own greedy "
           "answer from the windows as text, not the gold span (`--teacher-targets "
           f"{recipe['teacher_targets']}`)" if recipe.get("teacher_targets") else "")
        + (f"; so do {t['questions']['cloze_with_answer_in_windows']:,} of {t['questions']['cloze']:,} cloze questions "
           "about bundled summaries not aligned on (a name, number or word blanked out of a sentence, answered by "
           "it), mixed in" if t["questions"].get("cloze") else "")
        + ". Loss: NLL of that answer" + (
            f" + {distill['kl_weight']} x KL(teacher || student), the teacher being the frozen LLM reading the same "
            "windows as text" if distill["kl_weight"] else " alone (`--kl-weight 0`: no teacher in training; the KL to "
            "the text teacher is only measured, at validation)")
        + (f", + {reading} x KL(exact-token twin || student) at every position from the first soft token "
           "(reading distillation: the same prompt with each soft token replaced by the embedding of the "
           "token it stands for)" if reading else "")
        + f"; {distill['steps']} steps of {distill['batch_size']}, lr {distill['lr']}."
        + (f" Trained for answering with a copy bias of {distill['copy_bias']} (added to the logits of the window "
           "text's tokens, student and teacher alike, and in the validation answers): use it with `--copy-bias "
           f"{distill['copy_bias']}`." if distill.get("copy_bias") else "")
        + (f" Validated at every checkpoint on up to {distill['val_questions']} validation questions whose windows hold "
           "their answer (accuracy: the greedy answer holds it)." if checkpoints and "val_acc" in checkpoints[-1]
           else ""), "",
        *_distill_table(checkpoints, bool(reading)), "",
        *([_environment_line(t["distill_environment"]), ""] if t.get("distill_environment") else []),
        *_earlier_distill_tables(t.get("lineage", [])),
        "## Reproduce", "",
        *(["Each command starts from the one before. A comment names where that step's projector was loaded from "
           "when the next was trained: with it at hand, skip the step and pass it to the next `--init-from`.", ""]
          if t.get("lineage") else []),
        "```bash",
        *reproduce_lines(config),
        "```", "",
        "Accuracy, recovery and speed against closed-book, full-text and `selected_text`: `docs/results.md` in the "
        "squeezerag repository; its table \"Projector folders and where each was measured\" names the section for "
        "each shipped folder.",
    ]
    return "\n".join(lines) + "\n"


def reproduce_lines(config: ProjectorConfig, out: str | None = None) -> list[str]:
    """The commands that reproduce this projector into ``out`` (default ``runs/<encoding>``), oldest first: a run
    continued from a projector that this recipe made is preceded by that projector's commands (its ``lineage``),
    each numbered in a comment."""
    steps = config.training.get("lineage", [])
    own = reproduce_command(config, out, init_from=_last_step_final(config, steps))
    if not steps:
        return [own]
    return [*(line for i, step in enumerate(steps, 1) for line in (f"# {i}. {step['path']}", step["command"])),
            f"# {len(steps) + 1}. this projector", own]


def lineage_record(config: ProjectorConfig, path: str) -> list[dict]:
    """What a run continued from the projector at ``path`` (``config`` its config) records to be reproducible: the
    steps that made that projector, oldest first, each ``{"path": where it was loaded from, "command": its line}``,
    step i writing ``runs/<encoding>-<i>`` and starting from step i - 1. Empty for a projector this recipe did not
    make (the continued run's line then cites ``path`` itself). Recorded in the config at training time, unlike
    ``projector.card.lineage``, which follows run folders on disk: shipped weights leave their run folder."""
    if "recipe" not in config.training:
        return []
    steps = config.training.get("lineage", [])
    return [*steps, {"path": path, "command": reproduce_command(config, _step_out(config, len(steps) + 1),
                                                                _last_step_final(config, steps)),
                     "checkpoints": distill_checkpoints(config.training["history"])}]


def _step_out(config: ProjectorConfig, step: int) -> str:
    return f"runs/{config.memory_encoding}-{step}"


def _last_step_final(config: ProjectorConfig, steps: list[dict]) -> str | None:
    """Where the last recorded step's projector lands, for the next step's ``--init-from`` (None: no steps)."""
    return _step_out(config, len(steps)) + "/final" if steps else None


def _prompt_layout(config: ProjectorConfig) -> str:
    """Where the card says the reading prompt's rows are written (``projector.model.with_reading_prompt``)."""
    if not (config.closing_prompt or config.answer_prompt):
        return "before the first window, "
    parts = [f"{config.reading_prompt - config.closing_prompt - config.answer_prompt} before the first window"]
    parts += [f"{config.closing_prompt} after the last"] if config.closing_prompt else []
    parts += [f"{config.answer_prompt} after the question"] if config.answer_prompt else []
    return f"({', '.join(parts)}), "


def _alignment_table(history: list[dict]) -> list[str]:
    """Per-epoch alignment loss: ``1 - cos`` (records before the vocabulary loss stored it as ``align_loss``),
    and the vocabulary cross-entropy where it was trained."""
    if "vocabulary" in history[0]:
        return ["| epoch | 1 - cos | vocabulary cross-entropy |", "| --- | --- | --- |",
                *[f"| {h['epoch']} | {h['cosine']:.4f} | {h['vocabulary']:.3f} |" for h in history]]
    return ["| epoch | 1 - cos |", "| --- | --- |",
            *[f"| {h['epoch']} | {h.get('cosine', h['align_loss']):.4f} |" for h in history]]


def _distill_table(checkpoints: list[dict], reading: bool) -> list[str]:
    """Training loss and validation loss parts at every checkpoint (the reading KL where it was trained), and the
    validation accuracy where it was measured (runs since 2026-12-05)."""
    accuracy = "val_acc" in checkpoints[-1]
    head = ("| step | train loss (last step) | val NLL | val KL |" + (" val reading KL |" if reading else "")
            + (" val accuracy |" if accuracy else ""))
    return [head, "| --- " * head.count(" |") + "|",
            *[f"| {h['step']} | {h['loss']:.3f} | {h['val_nll']:.3f} | {h['val_kl']:.3f} |"
              + (f" {h['val_reading']:.3f} |" if reading else "")
              + (f" {h['val_acc']:.3f} |" if accuracy else "") for h in checkpoints]]


def distill_checkpoints(history: list[dict]) -> list[dict]:
    """The distillation history's rows that carry validation losses (one per checkpoint)."""
    return [h for h in history if "val_loss" in h]


def _earlier_distill_tables(steps: list[dict]) -> list[str]:
    """The distillation curve of each earlier step under Reproduce, newest first (records made before steps kept
    their checkpoints have none to show)."""
    lines = []
    for i, step in reversed(list(enumerate(steps, 1))):
        if step.get("checkpoints"):
            lines += [f"Step {i} under Reproduce (`{step['path']}`):", "",
                      *_distill_table(step["checkpoints"], "val_reading" in step["checkpoints"][0]), ""]
    return lines


def _environment_line(env: dict) -> str:
    versions = ", ".join(f"{k} {env[k]}" for k in ("torch", "transformers") if k in env)
    return f"Distilled on {env['device']} with the LLM in {env['dtype']} ({versions})."
