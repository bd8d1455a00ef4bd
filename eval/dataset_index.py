"""``bench --corpus-from-dataset``: an index over a dataset's own pooled contexts, built once and cached.

The corpus is :func:`eval.records.contexts_as_corpus` of the records (every distinct gold context), so an
open-retrieval benchmark needs no external dump: the retriever must find each question's paragraph among
all the dataset's paragraphs. The index lives in ``rag.defaults.cache_dir()/bench-index/<key>``, where the
key hashes the corpus, the embedder id and the chunking settings (passages are cut to what the embedder
reads: at most 200 tokens, fewer for a short-input embedder); a later run with the same key reuses it,
adding a missing memory encoding (e.g. the one a projector needs) in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.records import QARecord, contexts_as_corpus

logger = logging.getLogger(__name__)


def cache_key(corpus: list[dict], embedder_id: str, chunk_tokens: int, chunk_overlap: int) -> str:
    """16 hex digits identifying (corpus, embedder, chunking)."""
    payload = json.dumps({"ids": [c["id"] for c in corpus], "titles": [c["title"] for c in corpus],
                          "embedder": embedder_id, "chunk": [chunk_tokens, chunk_overlap]})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def fitted_build_config(embedder: Any, memory_encodings: Sequence[str], base: Any = None) -> Any:
    """``BuildConfig`` (``base`` or the defaults) with passages cut to what ``embedder`` can read."""
    from dataclasses import replace

    from indexer import BuildConfig

    base = base or BuildConfig()
    limit = embedder.max_seq_length - embedder.reserved_tokens
    chunk = min(base.chunk_tokens, limit)
    return replace(base, chunk_tokens=chunk, chunk_overlap=min(base.chunk_overlap, chunk // 4),
                   memory_encodings=tuple(dict.fromkeys(["pooled", *memory_encodings])))


def dataset_index(records: Sequence[QARecord], embedder: str | Any | None = None,
                  encodings: Sequence[str] = ("pooled",), cache_root: str | Path | None = None,
                  progress: bool = True, build_config: Any = None) -> Any:
    """Load (or build, then cache) an ``indexer.Index`` over the records' pooled contexts.

    ``embedder``: name, path or loaded ``indexer.Embedder`` (None: the bundled default). ``encodings``:
    memory encodings the index must hold (add the projector's ``memory_encoding``). ``cache_root``: the
    folder holding the cached indexes (default ``cache_dir()/bench-index``). ``build_config``: base
    ``BuildConfig``; passages are cut to fit the embedder either way.
    """
    from indexer import Index, build_index, load_embedder
    from rag.defaults import cache_dir, embedder_id

    model = embedder if hasattr(embedder, "encode_with_memory") else load_embedder(embedder)
    config = fitted_build_config(model, encodings, build_config)
    corpus = contexts_as_corpus(records)
    key = cache_key(corpus, embedder_id(model.id), config.chunk_tokens, config.chunk_overlap)
    target = Path(cache_root or cache_dir() / "bench-index") / key
    if (target / "manifest.json").is_file():
        logger.info("Reusing the dataset index in %s", target)
        index = Index.load(target, embedder=model)
        for encoding in config.memory_encodings:
            if encoding not in index.memory_encodings:
                logger.info("Adding memory encoding %s to %s", encoding, target)
                index.add_memory(encoding, progress=progress)
        return index
    logger.info("Building an index over %d pooled contexts in %s (cached for later runs)", len(corpus), target)
    return build_index(corpus, target, embedder=model, config=config, progress=progress)
