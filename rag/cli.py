"""``squeezerag``: a thin command-line layer over the Python API.

    squeezerag index build CORPUS OUT [--embedder --factory --chunk-tokens --memory ...]
    squeezerag index info DIR | index add DIR CORPUS | index add-memory DIR --encoding segments:8
    squeezerag ask QUESTION --index DIR [--mode --k]
    squeezerag demo | train | train-windows | train-wordpieces | average-projectors | bench | bench-index
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from rag.cli_copy_bias import add_copy_bias_arg
from rag.cli_window_args import add_window_args


def configure_logging(quiet: bool, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    """Log at INFO (WARNING with ``quiet``) and keep third-party libraries to their warnings. ``quiet`` also turns
    off transformers' own "Loading weights" bars, which ignore the logging level; our bars follow ``progress``."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format=fmt, datefmt="%H:%M:%S")
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def _add_index_commands(sub) -> None:
    index = sub.add_parser("index", help="build and inspect indexes").add_subparsers(dest="index_cmd", required=True)
    b = index.add_parser("build", help="build an index from a corpus")
    b.add_argument("corpus", help="JSONL / JSON / CSV / Parquet file, or a folder of .txt/.md files")
    b.add_argument("out", help="index directory to create")
    b.add_argument("--embedder", default=None, help="sentence-transformers name or path (default: bundled MiniLM)")
    b.add_argument("--factory", default="Flat", help="FAISS factory string, e.g. Flat, HNSW32, IVF256,PQ16")
    b.add_argument("--chunk-tokens", type=int, default=200)
    b.add_argument("--chunk-overlap", type=int, default=32)
    b.add_argument("--memory", nargs="+", default=["pooled"], help="memory encodings: pooled, segments:M")
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--text-field"), b.add_argument("--title-field"), b.add_argument("--id-field")
    b.add_argument("--skip-bad", action="store_true", help="skip malformed records (counted) instead of failing")
    b.add_argument("--overwrite", action="store_true", help="replace an existing index (only once the new one is built)")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=_index_build)
    i = index.add_parser("info", help="print an index's manifest")
    i.add_argument("dir")
    i.set_defaults(func=_index_info)
    a = index.add_parser("add", help="append documents to an index")
    a.add_argument("dir"), a.add_argument("corpus")
    a.add_argument("--skip-bad", action="store_true"), a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=_index_add)
    m = index.add_parser("add-memory", help="compute another memory encoding for every passage")
    m.add_argument("dir"), m.add_argument("--encoding", required=True, help="e.g. segments:8")
    m.add_argument("--quiet", action="store_true")
    m.set_defaults(func=_index_add_memory)


def _index_build(args) -> int:
    from indexer import BuildConfig, build_index

    cfg = BuildConfig(chunk_tokens=args.chunk_tokens, chunk_overlap=args.chunk_overlap, factory=args.factory,
                      memory_encodings=tuple(args.memory), batch_size=args.batch_size, text_field=args.text_field,
                      title_field=args.title_field, id_field=args.id_field)
    index = build_index(args.corpus, args.out, embedder=args.embedder, config=cfg, overwrite=args.overwrite,
                        progress=not args.quiet, skip_bad=args.skip_bad)
    print(f"Built {args.out}: {len(index)} passages, factory {args.factory}, memory {index.memory_encodings}")
    return 0


def _index_info(args) -> int:
    from indexer import Index

    manifest = json.loads((Index.load(args.dir).dir / "manifest.json").read_text())
    probe = manifest.get("embedder", {}).get("probe_vector")
    if isinstance(probe, list):  # 384 floats help nobody on a terminal
        manifest["embedder"]["probe_vector"] = f"<{len(probe)} floats>"
    print(json.dumps(manifest, indent=2))
    return 0


def _index_add(args) -> int:
    from indexer import Index

    added = Index.load(args.dir).add(args.corpus, progress=not args.quiet, skip_bad=args.skip_bad)
    print(f"Added {added} passages to {args.dir}")
    return 0


def _index_add_memory(args) -> int:
    from indexer import Index

    Index.load(args.dir).add_memory(args.encoding, progress=not args.quiet)
    print(f"Added memory encoding {args.encoding} to {args.dir}")
    return 0


def _add_ask_command(sub) -> None:
    p = sub.add_parser("ask", help="answer a question from an index")
    p.add_argument("question")
    p.add_argument("--index", default=None, help="index directory (default: the demo index)")
    p.add_argument("--mode", default="full_text", choices=["closed_book", "full_text", "selected_text", "compressed"])
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--llm", default=None, help="Hugging Face causal LM name or path (default: bundled SmolLM2)")
    p.add_argument("--projector", default=None, help="projector directory (default: the shipped one)")
    add_window_args(p)
    p.add_argument("--max-new-tokens", type=int, default=None)
    add_copy_bias_arg(p)
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_ask)


def _ask(args) -> int:
    from rag.cli_demo import print_answer
    from rag.cli_window_args import window_config, window_scorer_dir
    from rag.demo_index import default_projector_dir, ensure_demo_index
    from rag.pipeline import RAG

    index = args.index or ensure_demo_index(progress=not args.quiet)
    projector = args.projector or (default_projector_dir() if args.mode == "compressed" else None)
    # compressed too: the shipped (window) projector reads the windows the scorer selects
    scorer = window_scorer_dir(args) if args.mode in ("selected_text", "compressed") else None
    rag = RAG(index=index, llm=args.llm, projector=projector, window=window_config(args), window_scorer=scorer,
              copy_bias=args.copy_bias)
    answer = rag.ask(args.question, k=args.k, mode=args.mode, max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, default=str))
    else:
        print_answer(answer)
    return 0


def _add_bench_index_command(sub) -> None:
    p = sub.add_parser("bench-index", help="index-build throughput vs raw encoding; search latency",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda a: __import__("eval.bench_index", fromlist=["main"]).main(a.rest))


def build_parser() -> argparse.ArgumentParser:
    from eval.cli import add_bench_parser
    from projector.cli import add_train_parser
    from projector.cli_soup import add_average_parser
    from projector.cli_wordpieces import add_train_wordpieces_parser
    from rag.cli_demo import add_demo_parser
    from rag.cli_windows import add_train_windows_parser

    parser = argparse.ArgumentParser(prog="squeezerag", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_index_commands(sub)
    _add_ask_command(sub)
    add_demo_parser(sub)
    add_train_parser(sub)
    add_train_windows_parser(sub)
    add_train_wordpieces_parser(sub)
    add_average_parser(sub)
    add_bench_parser(sub)
    _add_bench_index_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rag.errors import SqueezeRagError

    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "quiet", False))
    try:
        return int(args.func(args) or 0)
    except (SqueezeRagError, FileExistsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
