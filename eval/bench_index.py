"""Index benchmark: ``build_index`` throughput against raw ``SentenceTransformer.encode``, and search latency.

``python -m eval.bench_index [--passages N] [--quiet]``

1. Build: the first demo-corpus documents holding N passages are indexed with ``build_index`` (default config, same embedder
   object, model load excluded), and the exact texts the index embedded (title + passage) are encoded with
   plain ``SentenceTransformer.encode`` at the same batch size. Overhead = build time / encode time - 1:
   the cost of reading, chunking, memory encodings, FAISS and writing on top of the forward passes.
2. Search: single-query latency (p50/p99, ms, k=10) of ``Flat`` and ``HNSW32`` (efSearch as ``Index``
   sets it) over 10k and 100k random L2-normalised 384-d vectors.

Timings on a shared machine are noisy; ``--rounds`` repeats the build comparison and keeps the fastest.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.cli import configure_logging

if TYPE_CHECKING:
    from indexer import Chunker

logger = logging.getLogger(__name__)


@dataclass
class BuildTiming:
    """Build vs raw-encode comparison on the same passages."""

    documents: int
    passages: int
    batch_size: int
    build_s: float
    encode_s: float
    build_cpu_s: float = float("nan")
    encode_cpu_s: float = float("nan")

    @property
    def build_pps(self) -> float:
        return self.passages / self.build_s

    @property
    def encode_pps(self) -> float:
        return self.passages / self.encode_s

    @property
    def overhead_pct(self) -> float:
        """Wall-clock overhead of ``build_index`` over the raw encode, in percent."""
        return 100.0 * (self.build_s / self.encode_s - 1.0)

    @property
    def cpu_overhead_pct(self) -> float:
        """Same in process CPU time: steadier than wall time when other jobs share the cores."""
        return 100.0 * (self.build_cpu_s / self.encode_cpu_s - 1.0)


@dataclass
class SearchTiming:
    """Single-query latency of one FAISS factory at one size."""

    factory: str
    rows: int
    p50_ms: float
    p99_ms: float
    add_s: float


@dataclass
class BenchResult:
    """Everything :func:`run_bench` measured."""

    build: BuildTiming | None
    search: list[SearchTiming] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.build is not None:
            data["build"].update(build_pps=self.build.build_pps, encode_pps=self.build.encode_pps,
                                 overhead_pct=self.build.overhead_pct,
                                 cpu_overhead_pct=self.build.cpu_overhead_pct)
        return data


def _first_passages(records: list[dict], chunker: Chunker, limit: int) -> tuple[list[dict], list[str]]:
    """Whole documents from the start of ``records`` holding at most ``limit`` passages, and those passages."""
    from indexer import read_corpus

    by_doc: dict[str, list[str]] = {}
    for passage in chunker.chunk(read_corpus(records)):
        by_doc.setdefault(passage.doc_id, []).append(passage.embed_text)
    kept, texts = [], []
    for record in records:
        doc_texts = by_doc.get(record["id"], [])
        if len(texts) + len(doc_texts) > limit:
            break
        kept.append(record)
        texts.extend(doc_texts)
    return kept, texts


def bench_build(passages: int = 2000, batch_size: int = 64, rounds: int = 1, progress: bool = False
                ) -> BuildTiming:
    """Time ``build_index`` and raw ``SentenceTransformer.encode`` on the same passages (fastest of ``rounds``)."""
    from indexer import BuildConfig, build_index, load_embedder
    from indexer.build import make_chunker
    from rag.defaults import load_demo_corpus

    embedder = load_embedder(None)
    config = BuildConfig(batch_size=batch_size)
    chunker = make_chunker(embedder, config.chunk_tokens, config.chunk_overlap)
    records, texts = _first_passages(load_demo_corpus(limit=passages), chunker, passages)
    embedder.model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up: first-call allocations
    encode, build = (float("inf"), float("inf")), (float("inf"), float("inf"))
    for _ in range(rounds):
        with _Timer() as timer:
            embedder.model.encode(texts, batch_size=batch_size, show_progress_bar=progress)
        encode = min(encode, timer.result)
        with tempfile.TemporaryDirectory() as tmp, _Timer() as timer:
            index = build_index(records, Path(tmp) / "index", embedder=embedder, config=config, progress=progress)
        build = min(build, timer.result)
        if len(index) != len(texts):
            raise RuntimeError("build_index and the raw encode saw different passages")
    return BuildTiming(len(records), len(texts), batch_size, build[0], encode[0], build[1], encode[1])


class _Timer:
    """Wall and process-CPU seconds of a ``with`` block, as ``result = (wall, cpu)``."""

    def __enter__(self) -> _Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = (time.perf_counter() - self._wall, time.process_time() - self._cpu)


def bench_search(factory: str, rows: int, dim: int = 384, queries: int = 200, k: int = 10, seed: int = 0
                 ) -> SearchTiming:
    """Single-query search latency over ``rows`` random normalised vectors."""
    from indexer import faiss_store

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows + queries, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = faiss_store.create_index(factory, dim)
    start = time.perf_counter()
    faiss_store.train_index(index, vectors[:rows], seed=seed)
    faiss_store.add_vectors(index, vectors[:rows])
    add_s = time.perf_counter() - start
    faiss_store.set_search_params(index, faiss_store.default_search_params(index))
    latencies = []
    for query in vectors[rows:]:
        start = time.perf_counter()
        faiss_store.search(index, query[None, :], k)
        latencies.append(1000.0 * (time.perf_counter() - start))
    p50, p99 = np.percentile(latencies, [50, 99])
    return SearchTiming(factory, rows, float(p50), float(p99), add_s)


def run_bench(passages: int = 2000, batch_size: int = 64, rounds: int = 1,
              sizes: tuple[int, ...] = (10_000, 100_000), factories: tuple[str, ...] = ("Flat", "HNSW32"),
              queries: int = 200, progress: bool = False) -> BenchResult:
    """Run both benchmarks; ``passages <= 0`` skips the build one, empty ``sizes`` the search one."""
    build = bench_build(passages, batch_size, rounds, progress) if passages > 0 else None
    search = [bench_search(f, n, queries=queries) for n in sizes for f in factories]
    return BenchResult(build, search)


def format_result(result: BenchResult) -> str:
    """The printed table."""
    import torch

    lines = [f"squeezerag index bench (CPU threads: torch {torch.get_num_threads()})"]
    if result.build is not None:
        b = result.build
        lines += [
            f"Build: {b.documents} demo documents -> {b.passages} passages, batch_size {b.batch_size}, "
            "default BuildConfig (Flat, pooled memory)",
            f"  {'method':<30}{'wall s':>9}{'passages/s':>13}{'CPU s':>9}",
            f"  {'SentenceTransformer.encode':<30}{b.encode_s:>9.1f}{b.encode_pps:>13.1f}{b.encode_cpu_s:>9.1f}",
            f"  {'build_index':<30}{b.build_s:>9.1f}{b.build_pps:>13.1f}{b.build_cpu_s:>9.1f}",
            f"  overhead of build_index over raw encode: {b.overhead_pct:+.1f} % wall, "
            f"{b.cpu_overhead_pct:+.1f} % CPU",
        ]
    if result.search:
        lines += ["Search: single query, k=10, d=384, random normalised vectors",
                  f"  {'index':<10}{'rows':>9}{'p50 ms':>10}{'p99 ms':>10}{'add s':>9}"]
        lines += [f"  {s.factory:<10}{s.rows:>9}{s.p50_ms:>10.3f}{s.p99_ms:>10.3f}{s.add_s:>9.1f}"
                  for s in result.search]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench_index", description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=2000,
                        help="passages to index (whole demo documents); 0 skips the build bench")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the build comparison, keep the fastest")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000],
                        help="search bench index sizes (none: skip)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quiet", action="store_true", help="no progress bars or logs, just the table")
    args = parser.parse_args(argv)
    configure_logging(args.quiet, fmt="%(message)s")
    result = run_bench(args.passages, args.batch_size, args.rounds, tuple(args.sizes),
                       queries=args.queries, progress=not args.quiet)
    print(format_result(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
