"""``Index``: a built index directory, loaded for search, memory lookup and incremental updates."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from indexer import faiss_store
from indexer.embedder import Embedder, load_embedder
from indexer.hit import Hit
from indexer.manifest import Manifest
from indexer.memory import open_memory_file, parse_encoding
from indexer.passages import read_passages

logger = logging.getLogger(__name__)

# A query embedder must reproduce the stored probe vector at least this closely (cosine).
PROBE_MIN_COSINE = 0.99


class Index:
    """A loaded index directory. Use :meth:`load` (or :func:`~indexer.build.build_index`) to get one.

    The embedder is loaded on first use (``search`` with strings, ``add``...) unless one is passed to
    :meth:`load`, so inspecting an index is fast.
    """

    def __init__(self, directory: Path, embedder: str | Embedder | None = None, progress: bool = True,
                 device: str | None = None) -> None:
        self._dir = Path(directory)
        self._embedder_spec = embedder
        self._embedder: Embedder | None = None
        self._device = device
        self.progress = progress
        self._reload()

    @classmethod
    def load(cls, directory: str | Path, embedder: str | Embedder | None = None, progress: bool = True,
             device: str | None = None) -> Index:
        """Open ``directory``; validates the manifest and files.

        ``embedder``: name, path or :class:`Embedder`; ``None`` uses the manifest's (loaded lazily). A given
        embedder is loaded now and refused (``EmbedderMismatchError``) unless it reproduces the stored probe.
        """
        index = cls(Path(directory), embedder, progress, device)
        if embedder is not None:
            _ = index.embedder
        return index

    def _reload(self) -> None:
        """(Re)read everything from disk: after construction and after ``add`` / ``add_memory``."""
        self._manifest = Manifest.load(self._dir)
        with _corrupt_file_guard(self._dir / self._manifest.faiss_file):
            cpu_index = faiss_store.read_index(self._dir / self._manifest.faiss_file)
        faiss_store.set_search_params(cpu_index, self._manifest.search_params)
        self._faiss = faiss_store.maybe_to_gpu(cpu_index)
        with _corrupt_file_guard(self._dir / self._manifest.passages_file):
            self._table = read_passages(self._dir / self._manifest.passages_file)
        self._memory: dict[str, np.ndarray] = {}
        if self._faiss.ntotal != self._manifest.rows or self._table.num_rows != self._manifest.rows:
            from rag.errors import IndexFormatError

            raise IndexFormatError(f"Index {self._dir} is inconsistent: manifest says {self._manifest.rows} rows, "
                                   f"FAISS has {self._faiss.ntotal}, passages {self._table.num_rows}. Fix: rebuild "
                                   "the index.")

    def _memory_file(self, name: str) -> np.ndarray:
        """The memory-mapped store of encoding ``name``, opened once and checked against the manifest."""
        if name not in self._memory:
            info = self._manifest.memory[name]
            with _corrupt_file_guard(self._dir / info.file):
                array = open_memory_file(self._dir / info.file)
                if list(array.shape) != info.shape or array.dtype != np.float16:
                    raise ValueError(f"shape {list(array.shape)} {array.dtype}, manifest says {info.shape} float16")
            self._memory[name] = array
        return self._memory[name]

    def __repr__(self) -> str:
        return (f"Index(dir={str(self._dir)!r}, rows={len(self)}, factory={self._manifest.factory!r}, "
                f"embedder={self._manifest.embedder.id!r}, memory={self.memory_encodings})")

    def __len__(self) -> int:
        return self._manifest.rows

    @property
    def dir(self) -> Path:
        """The index directory."""
        return self._dir

    @property
    def manifest(self) -> Manifest:
        """The parsed ``manifest.json``."""
        return self._manifest

    @property
    def table(self) -> pa.Table:
        """All passages as a (memory-mapped) Arrow table: id, doc_id, title, text, metadata; row = FAISS id."""
        return self._table

    @property
    def memory_encodings(self) -> list[str]:
        """Memory encodings stored, e.g. ``["pooled", "segments:8"]``."""
        return list(self._manifest.memory)

    @property
    def embedder(self) -> Embedder:
        """The query embedder, loaded (and probe-checked) on first access."""
        if self._embedder is None:
            spec = self._embedder_spec if self._embedder_spec is not None else self._manifest.embedder.id
            embedder = load_embedder(spec, device=self._device)
            check_embedder(embedder, self._manifest)
            self._embedder = embedder
        return self._embedder

    @property
    def search_flops(self) -> float | None:
        """FLOPs of one query's vector search when it is exhaustive (``Flat``); None for approximate indexes."""
        return faiss_store.exact_search_flops(self._faiss)

    def embed_queries(self, queries: str | Sequence[str]) -> np.ndarray:
        """Query embeddings ``(n, d)`` float32, L2-normalised. Empty queries raise ``InvalidQuestionError``."""
        queries = _as_query_list(queries)
        return self.embedder.encode_queries(queries, progress=False)

    def search(self, queries: str | Sequence[str], k: int = 5) -> list[list[Hit]]:
        """Top-``k`` passages per query, best first (a single ``str`` still gives a list of one list)."""
        queries = _as_query_list(queries)
        k = self._check_k(k)
        if not queries:
            return []
        return self.search_embeddings(self.embed_queries(queries), k)

    def search_embeddings(self, vectors: np.ndarray, k: int = 5) -> list[list[Hit]]:
        """Top-``k`` passages for query vectors ``(n, d)`` (or ``(d,)``), scores = inner products."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if vectors.shape[1] != self._manifest.embedder.dim:
            raise ValueError(f"Query vectors have dimension {vectors.shape[1]} but the index has "
                             f"{self._manifest.embedder.dim}. Fix: embed queries with index.embed_queries().")
        k = self._check_k(k)
        scores, rows = faiss_store.search(self._faiss, vectors, k)
        wanted = sorted({int(r) for r in rows.ravel() if r >= 0})
        by_row = dict(zip(wanted, self.passages(wanted), strict=True))
        return [[_with_score(by_row[int(r)], float(s)) for s, r in zip(srow, rrow, strict=True) if r >= 0]
                for srow, rrow in zip(scores, rows, strict=True)]

    def _check_k(self, k: int) -> int:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k={k!r} must be a positive integer.")
        if k > len(self):
            logger.warning("k=%d is larger than the index (%d passages); returning %d.", k, len(self), len(self))
            return len(self)
        return int(k)

    def passages(self, rows: Sequence[int] | np.ndarray) -> list[Hit]:
        """Passages at ``rows`` as :class:`Hit` (score ``nan``)."""
        rows = self._check_rows(rows)
        records = self._table.take(rows).to_pylist() if len(rows) else []
        return [Hit(r["id"], r["title"], r["text"], float("nan"), int(row), json.loads(r["metadata"] or "{}"))
                for row, r in zip(rows, records, strict=True)]

    def memory(self, rows: Sequence[int] | np.ndarray, encoding: str = "pooled") -> np.ndarray:
        """Memory vectors of ``rows``: ``(len(rows), m, d)`` float32 (stored as fp16)."""
        name = parse_encoding(encoding).name
        if name not in self._manifest.memory:
            from rag.errors import IndexFormatError

            raise IndexFormatError(
                f"Index {self._dir} has no {name!r} memory (it has {self.memory_encodings}). Fix: run "
                f"index.add_memory({name!r}) or `squeezerag index add-memory {self._dir} --encoding {name}`.")
        return np.asarray(self._memory_file(name)[self._check_rows(rows)], dtype=np.float32)

    def memory_for_hits(self, hits: Sequence[Hit], encoding: str = "pooled") -> np.ndarray:
        """Memory of ``hits``: ``(len(hits), m, d)`` float32.

        Indexed hits (``row >= 0``) read the store; others (``row = -1``, e.g. gold contexts) are embedded now
        with the index's ``"{title}\\n{text}"`` template and fp16 rounding, so both kinds look alike. Such
        texts are not chunked: beyond the embedder's window they are truncated.
        """
        enc = parse_encoding(encoding)
        if enc.name in self._manifest.memory:
            dim = self._manifest.memory[enc.name].shape[2]
        else:
            dim = self._manifest.embedder.dim if enc.kind == "pooled" else self.embedder.token_dim
        out = np.zeros((len(hits), enc.m, dim), dtype=np.float32)
        indexed = [i for i, hit in enumerate(hits) if hit.row >= 0]
        if indexed:
            out[indexed] = self.memory([hits[i].row for i in indexed], enc.name)
        missing = [i for i, hit in enumerate(hits) if hit.row < 0]
        if missing:
            from indexer.build import make_chunker
            from indexer.memory import to_fp16

            chunking = self._manifest.chunking
            chunker = make_chunker(self.embedder, chunking.chunk_tokens, chunking.chunk_overlap)
            texts = chunker.embed_texts([hits[i].title for i in missing], [hits[i].text for i in missing])
            _, computed = self.embedder.encode_with_memory(texts, [enc.name])
            out[missing] = to_fp16(computed[enc.name]).astype(np.float32)
        return out

    def _check_rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        array = np.asarray(rows, dtype=np.int64).reshape(-1)
        if array.size and (array.min() < 0 or array.max() >= len(self)):
            raise IndexError(f"Rows must be in [0, {len(self)}); got {array.min()}..{array.max()}. "
                             "Fix: use rows from search hits (Hit.row).")
        return array

    def add(self, corpus: Any, progress: bool | None = None, skip_bad: bool = False) -> int:
        """Append the documents of ``corpus`` (atomically); returns the number of passages added.

        ``progress=None`` uses the ``progress`` given to :meth:`load`.
        """
        from indexer.update import add_documents

        progress = self.progress if progress is None else progress
        added = add_documents(self, corpus, progress=progress, skip_bad=skip_bad)
        self._reload()
        return added

    def add_memory(self, encoding: str, progress: bool | None = None) -> None:
        """Compute memory ``encoding`` (e.g. ``"segments:8"``) for every row from the stored passages.

        Atomic like :meth:`add`; a no-op when the index already has it.
        """
        from indexer.update import add_memory_encoding

        progress = self.progress if progress is None else progress
        if add_memory_encoding(self, parse_encoding(encoding), progress=progress):
            self._reload()


def check_embedder(embedder: Embedder, manifest: Manifest) -> None:
    """Refuse a query embedder whose dim differs or whose probe vector has cosine < 0.99 with the stored one."""
    stored = np.asarray(manifest.embedder.probe_vector, dtype=np.float32)
    if embedder.dim == stored.shape[0]:
        probe = embedder.probe_vector()
        cosine = float(probe @ stored / (np.linalg.norm(probe) * np.linalg.norm(stored) + 1e-12))
        if cosine >= PROBE_MIN_COSINE:
            return
        detail = f"probe cosine {cosine:.3f} < {PROBE_MIN_COSINE}"
    else:
        detail = f"dimension {embedder.dim} != {stored.shape[0]}"
    from rag.errors import EmbedderMismatchError

    raise EmbedderMismatchError(
        f"The query embedder {embedder.id!r} differs from the index's embedder {manifest.embedder.id!r} "
        f"({detail}). Fix: load the index with embedder={manifest.embedder.id!r} (or None), or rebuild the "
        "index with the new embedder.")


@contextmanager
def _corrupt_file_guard(path: Path) -> Iterator[None]:
    """Turn a reader's failure on an index file into an ``IndexFormatError`` naming the file."""
    try:
        yield
    except (RuntimeError, OSError, ValueError, pa.ArrowException) as err:
        from rag.errors import IndexFormatError

        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise IndexFormatError(f"Index file {path} is corrupt or unreadable ({reason}). Fix: rebuild the index "
                               "(build_index(...) / `squeezerag index build`).") from None


def _as_query_list(queries: str | Sequence[str]) -> list[str]:
    items = [queries] if isinstance(queries, str) else list(queries)
    for i, query in enumerate(items):
        if not isinstance(query, str) or not query.strip():
            from rag.errors import InvalidQuestionError

            raise InvalidQuestionError(f"Query {i} is empty or not a string ({query!r}). Fix: pass non-empty "
                                       "question text.")
    return items


def _with_score(hit: Hit, score: float) -> Hit:
    return Hit(hit.id, hit.title, hit.text, score, hit.row, hit.metadata)
