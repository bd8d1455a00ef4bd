"""``squeezerag bench``: QA benchmark, run comparison and the timing-only benchmark.

``rag/cli.py`` calls :func:`add_bench_parser` to register the subcommand; registration imports nothing heavy
(torch, transformers and the eval modules load only when the command runs). The parser's default ``func``
is :func:`run_bench_command`, which returns the exit code.

    squeezerag bench --dataset squad.json --corpus-from-dataset --limit 200 --out runs/squad-200
    squeezerag bench --dataset nq.jsonl --index my-index --modes closed_book full_text --k 5
    squeezerag bench --compare runs/a runs/b
    squeezerag bench --timing-only --arch mistral-7b --k 1 5 10 --new-tokens 16
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from rag.cli import configure_logging
from rag.cli_copy_bias import add_copy_bias_arg
from rag.cli_window_args import add_window_args

logger = logging.getLogger(__name__)

_DESCRIPTION = """\
Benchmark closed-book vs full-text vs compressed (soft-token) RAG on a QA dataset, compare two runs, or
time full-text vs compressed prompts on a random LLM of a real architecture.

examples:
  squeezerag bench --dataset squad.json --corpus-from-dataset --limit 200 --out runs/squad-200
  squeezerag bench --dataset nq.jsonl --index my-index --modes closed_book full_text --k 5
  squeezerag bench --compare runs/a runs/b
  squeezerag bench --timing-only --arch mistral-7b --k 1 5 10 --new-tokens 16
"""

# Kept literal so registration imports nothing; tests check them against eval.runner / eval.datasets.
MODE_CHOICES = ("closed_book", "full_text", "selected_text", "compressed", "oracle", "oracle_compressed")
FORMAT_CHOICES = ("auto", "squad", "hotpotqa", "triviaqa", "nq", "jsonl", "csv")
ARCH_CHOICES = ("mistral-7b", "qwen2-7b", "llama3-8b", "smollm2-135m", "tiny")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and retrieval")
    g.add_argument("--dataset", help="QA dataset file (SQuAD/HotpotQA/TriviaQA JSON, NQ-open/own JSONL, CSV)")
    g.add_argument("--format", default="auto", choices=FORMAT_CHOICES, help="dataset format (default: sniffed)")
    g.add_argument("--articles", nargs="+", metavar="TITLE", help="only these article titles (SQuAD, HotpotQA)")
    g.add_argument("--include-unanswerable", action="store_true", help="keep SQuAD v2 unanswerable questions")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--corpus-from-dataset", action="store_true",
                     help="retrieve from the dataset's own pooled contexts (index built once, cached)")
    src.add_argument("--index", metavar="DIR", help="retrieve from this index")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("benchmark")
    g.add_argument("--modes", nargs="+", choices=MODE_CHOICES, default=["closed_book", "full_text", "compressed"])
    add_window_args(g)
    g.add_argument("--k", nargs="+", type=int, default=None,
                   help="passages per question (default 3); with --timing-only, several (default 1 5 10)")
    g.add_argument("--limit", type=int, help="first N questions after a seeded shuffle")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--batch-size", type=int, help="questions per generation batch (default 8; timing: 1)")
    g.add_argument("--max-new-tokens", type=int, help="answer length cap (default: the RAG's)")
    add_copy_bias_arg(g)
    g.add_argument("--out", metavar="DIR", help="output folder (default runs/bench-<time>; timing: none); answers "
                   "are checkpointed there, so the same command again resumes an interrupted run")
    g.add_argument("--llm", help="LLM name or path (default: bundled SmolLM2-135M-Instruct)")
    g.add_argument("--embedder", help="embedder name or path (default: bundled all-MiniLM-L6-v2)")
    g.add_argument("--projector", default="auto",
                   help="projector folder, 'none', or 'auto' (the shipped one with the default models)")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_other_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compare and timing")
    g.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="print two runs side by side")
    g.add_argument("--timing-only", action="store_true",
                   help="time full_text vs compressed on a random LLM of --arch (no data, no download)")
    g.add_argument("--arch", default="smollm2-135m", choices=ARCH_CHOICES)
    g.add_argument("--new-tokens", type=int, default=16, help="timing: tokens generated (EOS ignored)")
    g.add_argument("--doc-tokens", type=int, default=180, help="timing: text tokens per passage")
    g.add_argument("--soft-tokens", type=int, default=1, help="timing: soft tokens per passage")
    g.add_argument("--repeats", type=int, default=5, help="timing: timed runs per point (median)")
    g.add_argument("--device", help="timing: cuda / cpu (default: cuda if available)")


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench`` on an ``argparse`` subparsers object; returns the new parser."""
    p = subparsers.add_parser("bench", help="QA benchmark: closed-book vs full-text vs compressed",
                              description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_args(p)
    _add_run_args(p)
    _add_other_args(p)
    p.set_defaults(func=run_bench_command)
    return p


def _single_k(args: argparse.Namespace) -> int:
    from eval.errors import BenchmarkError

    ks = args.k or [3]
    if len(ks) != 1:
        raise BenchmarkError(f"bench takes one --k (got {ks}). Fix: pass a single value; several are for "
                             "--timing-only.")
    return ks[0]


def _timing(args: argparse.Namespace) -> int:
    from eval.timing import TimingConfig, render_timing, run_timing

    config = TimingConfig(arch=args.arch, ks=tuple(args.k or (1, 5, 10)), doc_tokens=args.doc_tokens,
                          soft_tokens_per_doc=args.soft_tokens, new_tokens=args.new_tokens, repeats=args.repeats,
                          batch_size=args.batch_size or 1, device=args.device,
                          seed=args.seed)
    print(render_timing(run_timing(config, out_dir=args.out, progress=not args.quiet)))
    return 0


def _projector(args: argparse.Namespace) -> Any:
    """The projector to use, or None (then compressed modes are skipped, with a logged reason)."""
    from projector import Projector

    if args.projector == "none":
        return None
    if args.projector == "auto":
        if args.llm or args.embedder:
            logger.warning("--projector auto: no shipped projector for a non-default LLM/embedder; compressed "
                           "modes are skipped. Fix: pass --projector DIR trained for this pair.")
            return None
        from rag.demo_index import default_projector_dir

        folder = default_projector_dir()
        return Projector.from_pretrained(folder) if folder is not None else None
    return Projector.from_pretrained(args.projector)


def build_rag(args: argparse.Namespace, records: list, progress: bool) -> Any:
    """The RAG for a bench run: index from --index or from the dataset's contexts, LLM, projector."""
    from rag import RAG

    projector = _projector(args)
    # A wordpieces projector reads the passage text at query time: the index needs no memory for it.
    encodings = [projector.config.memory_encoding] if projector and not projector.config.reads_wordpieces else []
    if args.corpus_from_dataset:
        from eval.dataset_index import dataset_index

        index = dataset_index(records, embedder=args.embedder, encodings=encodings, progress=progress)
    else:
        index = args.index
    from rag.cli_window_args import window_config, window_scorer_dir

    return RAG(index=index, llm=args.llm, embedder=args.embedder, projector=projector, window=window_config(args),
               window_scorer=window_scorer_dir(args, custom_embedder=bool(args.embedder)), copy_bias=args.copy_bias)


def _benchmark(args: argparse.Namespace) -> int:
    from eval.datasets import describe_source, load_qa
    from eval.errors import BenchmarkError
    from eval.report import cost_table, quality_table
    from eval.runner import run_benchmark

    if not args.dataset:
        raise BenchmarkError("bench needs a dataset. Fix: pass --dataset PATH (or --compare RUN_A RUN_B, or "
                             "--timing-only).")
    k = _single_k(args)
    if not (args.corpus_from_dataset or args.index):
        raise BenchmarkError("bench needs a corpus to retrieve from. Fix: pass --corpus-from-dataset (the "
                             "dataset's own contexts) or --index DIR.")
    progress = not args.quiet
    records = load_qa(args.dataset, format=args.format, articles=args.articles,
                      include_unanswerable=args.include_unanswerable)
    out = Path(args.out) if args.out else Path("runs") / time.strftime("bench-%Y%m%d-%H%M%S")
    dataset = {**describe_source(args.dataset), "format": args.format, "articles": args.articles,
               "corpus": "dataset contexts" if args.corpus_from_dataset else args.index}
    result = run_benchmark(build_rag(args, records, progress), records, modes=args.modes, k=k,
                           limit=args.limit, seed=args.seed, out_dir=out, batch_size=args.batch_size or 8,
                           max_new_tokens=args.max_new_tokens, progress=progress, dataset=dataset)
    print(quality_table(result.metrics["modes"]) + "\n\n" + cost_table(result.metrics["modes"]))
    print(f"\nWrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return 0


def run_bench_command(args: argparse.Namespace) -> int:
    """Handler of ``squeezerag bench``; returns the exit code (errors: message on stderr and 2, as the main
    ``squeezerag`` CLI does)."""
    from rag.errors import SqueezeRagError

    try:
        if args.compare:
            from eval.compare import compare_runs

            print(compare_runs(*args.compare))
            return 0
        if args.timing_only:
            return _timing(args)
        return _benchmark(args)
    except SqueezeRagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m eval.cli bench ...``."""
    parser = argparse.ArgumentParser(prog="squeezerag")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    configure_logging(args.quiet, fmt="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
