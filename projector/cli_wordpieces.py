"""``squeezerag train-wordpieces``: a window projector, ``wordpieces`` or ``reader_tokens`` (alignment, then QA
distillation; resumable)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rag.cli_copy_bias import logit_bonus
from rag.defaults import SHARED_SQUAD

if TYPE_CHECKING:
    from projector.wordpiece_recipe import WordpieceRecipeConfig


def add_train_wordpieces_parser(sub) -> None:
    from projector.reader_adapter import DEFAULT_TARGETS
    from rag.token_states import LAST_LAYER, TOKEN_LAYERS
    from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES

    p = sub.add_parser("train-wordpieces",
                       help="train a projector that reads the selected windows' wordpiece states as soft tokens")
    p.add_argument("--out", required=True, help="run directory (aligned/, distill/checkpoint, final/)")
    p.add_argument("--dataset", default=str(SHARED_SQUAD),
                   help="QA data with gold contexts (any `squeezerag bench` format), split by article")
    p.add_argument("--val-articles", nargs="+", default=list(VALIDATION_ARTICLES))
    p.add_argument("--held-out", nargs="*", default=list(SECOND_SET_ARTICLES),
                   help="articles never trained on (reported by `squeezerag bench`)")
    p.add_argument("--llm", default=None), p.add_argument("--embedder", default=None)
    p.add_argument("--window-scorer", default=None, help="scorer folder (default: the shipped one)")
    p.add_argument("--window-width", type=int, default=None, help="wordpieces per window (default: as selected_text)")
    p.add_argument("--k", type=int, default=3, help="passages retrieved per training question")
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--encoding", choices=["wordpieces", "reader_tokens"], default="wordpieces",
                   help="one soft token per window wordpiece, or per LLM token of the window text")
    p.add_argument("--max-pieces", type=int, default=8, help="reader_tokens: LLM tokens told apart per wordpiece")
    p.add_argument("--read-case", action="store_true",
                   help="reader_tokens: also give the projector each LLM token's case "
                        "(the default embedder is uncased)")
    p.add_argument("--split-at-wordpieces", action="store_true",
                   help="reader_tokens: tokenise the window text one embedder wordpiece at a time, so no LLM token "
                        "spans two wordpieces (the LLM reads a finer tokenisation of the same text)")
    p.add_argument("--token-layers", choices=TOKEN_LAYERS, default=LAST_LAYER,
                   help="embedder layers read per wordpiece: the last, or every hidden state concatenated")
    p.add_argument("--demo-passages", type=int, default=2000, help="bundled summaries added to the alignment text")
    p.add_argument("--lexicon", action="store_true",
                   help="also align on every whole-word token of the LLM's vocabulary, read alone")
    p.add_argument("--coverage", type=int, default=0, metavar="N",
                   help="also align on sentences of the other bundled summaries that hold an embedder wordpiece "
                        "seen fewer than N times in the alignment text (e.g. 3; 0: off)")
    p.add_argument("--numbers", action="store_true",
                   help="also align on every number the embedder keeps as one wordpiece, and random longer ones")
    p.add_argument("--cloze", type=int, default=0, metavar="N",
                   help="add N cloze questions (a name, number or word blanked out of a sentence) about bundled "
                        "summaries to the distillation data (0: off; 3000 lowered accuracy, docs/results.md)")
    p.add_argument("--gold-passage", action="store_true",
                   help="a training question whose retrieval missed its gold paragraph reads it in place of the "
                        "last retrieved one, so more questions keep their answer in the windows")
    p.add_argument("--answer-windows", action="store_true",
                   help="a training question whose windows miss its answer reads a window around the answer in "
                        "place of its last window, instead of being dropped")
    p.add_argument("--teacher-targets", choices=("right", "all"), default="",
                   help="train on the LLM's own greedy answers from the windows as text instead of the gold span: "
                        "where they hold a gold answer (right) or all of them (all); sequence-level distillation")
    p.add_argument("--align-epochs", type=int, default=8)
    p.add_argument("--align-vocabulary-weight", type=float, default=0.0,
                   help="reader_tokens: add this x the cross-entropy of each soft token's own token among the "
                        "LLM's whole vocabulary to the cosine alignment loss (e.g. 1.0)")
    p.add_argument("--align-temperature", type=float, default=0.05,
                   help="temperature of that cross-entropy (its logits are cosines / temperature)")
    p.add_argument("--steps", type=int, default=300, help="distillation steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--kl-weight", type=float, default=2.0,
                   help="weight of KL(text teacher || student) on the answer tokens, xRAG's 2; 0 trains on the gold "
                        "answer's NLL alone and skips the teacher (the shipped projector's recipe)")
    p.add_argument("--reading-weight", type=float, default=0.0,
                   help="reader_tokens: add this x KL(exact-token prompt || soft prompt) at every position from the "
                        "first window token, so the LLM (with the reader adapter, if any) reads each soft token as "
                        "the LLM as loaded reads its own token (e.g. 1.0)")
    p.add_argument("--copy-bias", type=logit_bonus, default=0.0, metavar="B",
                   help="train for answering with --copy-bias B: add B to the logits of the window text's tokens in "
                        "both losses (student and teacher) and the validation answers (0: none)")
    p.add_argument("--reading-prompt", type=int, default=0, metavar="N",
                   help="learn N soft tokens written before the first window: a reading instruction tuned with the "
                        "frozen LLM, counted as context tokens (0: none)")
    p.add_argument("--closing-prompt", type=int, default=0, metavar="M",
                   help="write the last M of the --reading-prompt tokens after the last window instead of before "
                        "the first, where they can attend to the windows (0: all before)")
    p.add_argument("--answer-prompt", type=int, default=0, metavar="M",
                   help="write the last M of the --reading-prompt tokens after the question, the last thing the LLM "
                        "reads before answering (0: none there)")
    p.add_argument("--merge-tokens", type=int, default=1, metavar="G",
                   help="read G consecutive window tokens as one soft token (a window of n tokens costs ceil(n/G)); "
                        "G > 1 needs --init-from (alignment pairs each soft token with one token)")
    p.add_argument("--freeze-projector", action="store_true",
                   help="with --init-from and --reading-prompt or --reader-adapter: train only those, the projector "
                        "as loaded")
    p.add_argument("--prompt-lr", type=float, default=None,
                   help="with --reading-prompt: the prompt's learning rate when it trains beside the projector "
                        "(default: --lr; prompt tuning usually wants ~10x the projector's)")
    p.add_argument("--reader-adapter", type=int, default=0, metavar="RANK",
                   help="also train low-rank deltas of this rank on the LLM's linear layers (--adapter-targets), attached "
                        "only while it reads the soft tokens (the LLM's weights stay as loaded; 0: none)")
    p.add_argument("--adapter-targets", nargs="+", default=list(DEFAULT_TARGETS), metavar="NAME",
                   help="with --reader-adapter: the LLM's linear layers that get a delta, by last name part "
                        "(default: attention's q_proj k_proj v_proj o_proj; add gate_proj up_proj down_proj for "
                        "the MLPs)")
    p.add_argument("--adapter-dropout", type=float, default=0.0, metavar="P",
                   help="with --reader-adapter: dropout on each delta's input while training (PEFT's lora_dropout, "
                        "e.g. 0.1; 0: none)")
    p.add_argument("--adapter-lr", type=float, default=None,
                   help="with --reader-adapter: the adapter's learning rate (default: --lr)")
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--val-questions", type=int, default=64, metavar="N",
                   help="validate at every checkpoint on this many validation questions whose windows hold the answer")
    p.add_argument("--no-val-accuracy", action="store_true",
                   help="validate on the loss alone, without answering the validation questions (faster)")
    p.add_argument("--init-from", default=None,
                   help="continue from this projector folder (same encoding; skips alignment), e.g. the shipped one")
    p.add_argument("--until", type=int, default=None, help="stop after this distillation step (resume later)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_train_wordpieces)


def run_train_wordpieces(args: argparse.Namespace) -> int:
    from projector.wordpiece_recipe import run_wordpiece_recipe

    try:  # the recipe's config refuses settings that cannot work before anything loads: say so, no traceback
        config = _recipe_config(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = run_wordpiece_recipe(config, args.out, progress=not args.quiet, until=args.until)
    print(f"Projector run at {out}")
    return 0


def _recipe_config(args: argparse.Namespace) -> WordpieceRecipeConfig:
    from projector.alignment import AlignConfig
    from projector.window_distill import DistillConfig
    from projector.wordpiece_recipe import WordpieceRecipeConfig

    return WordpieceRecipeConfig(
        dataset=args.dataset, val_articles=tuple(args.val_articles), held_out=tuple(args.held_out), llm=args.llm,
        embedder=args.embedder, window_scorer=args.window_scorer, hidden=args.hidden, encoding=args.encoding,
        max_pieces=args.max_pieces, read_case=args.read_case,
        split_at_wordpieces=args.split_at_wordpieces, token_layers=args.token_layers,
        demo_passages=args.demo_passages, lexicon=args.lexicon, coverage_min_count=args.coverage, numbers=args.numbers,
        cloze=args.cloze, gold_passage=args.gold_passage, answer_windows=args.answer_windows,
        teacher_targets=args.teacher_targets,
        k=args.k, window_width=args.window_width, init_from=args.init_from, reading_prompt=args.reading_prompt,
        closing_prompt=args.closing_prompt, answer_prompt=args.answer_prompt, merge_tokens=args.merge_tokens,
        reader_adapter=args.reader_adapter, adapter_targets=tuple(args.adapter_targets),
        adapter_dropout=args.adapter_dropout,
        align=AlignConfig(epochs=args.align_epochs, seed=args.seed,
                          vocabulary_weight=args.align_vocabulary_weight, temperature=args.align_temperature),
        distill=DistillConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, kl_weight=args.kl_weight,
                              reading_weight=args.reading_weight, copy_bias=args.copy_bias,
                              freeze_projector=args.freeze_projector,
                              prompt_lr=args.prompt_lr, adapter_lr=args.adapter_lr,
                              checkpoint_every=args.checkpoint_every, val_questions=args.val_questions,
                              val_accuracy=not args.no_val_accuracy, seed=args.seed))
