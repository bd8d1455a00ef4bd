"""``squeezerag train-windows``: train the ``selected_text`` window scorer (minutes on 2 CPU cores)."""

from __future__ import annotations

import argparse

from rag.defaults import SHARED_SQUAD


def add_train_windows_parser(sub) -> None:
    from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES

    p = sub.add_parser("train-windows", help="train the window scorer that selected_text uses to cut passages")
    p.add_argument("--out", required=True, help="run directory (checkpoint, history.json, report.json, final/)")
    p.add_argument("--dataset", default=str(SHARED_SQUAD),
                   help="QA data with gold contexts (any `squeezerag bench` format), split by article")
    p.add_argument("--val-articles", nargs="+", default=list(VALIDATION_ARTICLES),
                   help="articles for validation (never trained on)")
    p.add_argument("--held-out", nargs="*", default=list(SECOND_SET_ARTICLES),
                   help="further articles only reported on (never trained on); none: train on them too")
    p.add_argument("--embedder", default=None, help="sentence-transformers name or path (default: bundled MiniLM)")
    p.add_argument("--negatives", type=int, default=0,
                   help="distractor paragraphs of the same article per question, in one softmax with the gold one")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--kernel", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_train_windows)


def run_train_windows(args: argparse.Namespace) -> int:
    from rag.window_recipe import WindowRecipeConfig, run_window_recipe
    from rag.window_training import WindowTrainConfig

    config = WindowRecipeConfig(
        dataset=args.dataset, val_articles=tuple(args.val_articles), held_out=tuple(args.held_out),
        embedder=args.embedder, negatives=args.negatives, shape={"hidden": args.hidden, "kernel": args.kernel},
        train=WindowTrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed))
    final = run_window_recipe(config, args.out, progress=not args.quiet)
    print(f"Window scorer at {final}")
    return 0
