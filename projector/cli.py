"""``squeezerag train``: the projector recipe from the command line (resumable, can run in parts)."""

from __future__ import annotations

import argparse

from rag.defaults import SHARED_SQUAD


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a projector (stage 1 paraphrase + stage 2 QA distillation)")
    p.add_argument("--out", required=True, help="run directory (checkpoints, history, final/)")
    p.add_argument("--squad", default=str(SHARED_SQUAD),
                   help="SQuAD-format JSON for stage 2 (split by article into train / validation)")
    p.add_argument("--encoding", default="pooled", help="memory encoding: pooled or segments:M")
    p.add_argument("--tokens-per-vector", type=int, default=4)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--val-articles", type=int, default=6)
    p.add_argument("--stage1-passages", type=int, default=1200)
    p.add_argument("--max-target-tokens", type=int, default=48, help="stage-1 passage target length (LLM tokens)")
    p.add_argument("--stage1-steps", type=int, default=None, help="cap on stage-1 optimizer steps")
    p.add_argument("--stage2-steps", type=int, default=None, help="cap on stage-2 optimizer steps")
    p.add_argument("--stage2-epochs", type=int, default=1)
    p.add_argument("--sources", nargs="+", default=["squad", "description"],
                   choices=["squad", "description", "teacher"])
    p.add_argument("--n-description", type=int, default=800)
    p.add_argument("--n-teacher", type=int, default=0)
    p.add_argument("--lr1", type=float, default=1e-3), p.add_argument("--lr2", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--kl-weight", type=float, default=2.0)
    p.add_argument("--llm", default=None), p.add_argument("--embedder", default=None)
    p.add_argument("--llm-dtype", default=None, help="e.g. bfloat16 (faster on CPUs with AVX512-BF16)")
    p.add_argument("--init-from", default=None,
                   help="start from these projector weights (a projector folder or a stage checkpoint)")
    p.add_argument("--until", type=int, default=None, help="stop after this many steps in this call (resume later)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from projector.recipe import RecipeConfig, run_recipe
    from projector.train import TrainConfig

    common = dict(batch_size=args.batch_size, seed=args.seed)
    cfg = RecipeConfig(
        squad_path=args.squad, encoding=args.encoding, tokens_per_vector=args.tokens_per_vector, hidden=args.hidden,
        val_articles=args.val_articles, stage1_passages=args.stage1_passages,
        max_target_tokens=args.max_target_tokens, sources=tuple(args.sources),
        n_description=args.n_description, n_teacher=args.n_teacher, llm=args.llm, embedder=args.embedder,
        llm_dtype=args.llm_dtype, init_from=args.init_from, seed=args.seed,
        stage1=TrainConfig(stage="paraphrase", lr=args.lr1, max_steps=args.stage1_steps, **common),
        stage2=TrainConfig(stage="qa", lr=args.lr2, max_steps=args.stage2_steps, epochs=args.stage2_epochs,
                           kl_weight=args.kl_weight, **common))
    out = run_recipe(cfg, args.out, progress=not args.quiet, until=args.until)
    print(f"Projector run at {out}")
    return 0
