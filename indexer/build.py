"""``build_index``: corpus -> passages -> embeddings -> FAISS index + memory store, written atomically."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer import faiss_store
from indexer.atomic import check_target, publish, staging_dir
from indexer.chunking import Chunker
from indexer.corpus import CorpusReader, FieldNames
from indexer.embedder import PROBE_TEXT, Embedder, load_embedder
from indexer.manifest import FAISS_FILE, PASSAGES_FILE, ChunkingInfo, CorpusInfo, EmbedderInfo, Manifest
from indexer.memory import MemoryEncoding, parse_encoding
from indexer.passages import fingerprint, passages_table, write_passages
from indexer.writer import (
    encode_to_disk,
    fill_faiss,
    flush_all,
    memory_infos,
    open_memory_outputs,
    temp_embeddings,
)

if TYPE_CHECKING:
    from indexer.index import Index

logger = logging.getLogger(__name__)


@dataclass
class BuildConfig:
    """How to build an index.

    Args:
        chunk_tokens: passage size in embedder tokens (must fit ``max_seq_length`` minus special tokens).
        chunk_overlap: tokens shared by consecutive passages of one document.
        factory: FAISS factory string, inner product on normalised vectors: ``"Flat"`` (exact),
            ``"HNSW32"``, ``"IVF1024,Flat"``, ``"IVF1024,PQ16"``...
        memory_encodings: memory vectors to store: ``"pooled"`` and/or ``"segments:m"``.
        batch_size: passages per forward pass.
        seed: seed of the IVF/PQ training sample.
        text_field, title_field, id_field: record fields; ``None`` tries the usual names.
        nprobe: IVF lists probed per query; ``None`` = ``~sqrt(nlist)``, at least 8.
        ef_search: HNSW search depth; ``None`` = 128.
    """

    chunk_tokens: int = 200
    chunk_overlap: int = 32
    factory: str = "Flat"
    memory_encodings: tuple[str, ...] = ("pooled",)
    batch_size: int = 64
    seed: int = 0
    text_field: str | None = None
    title_field: str | None = None
    id_field: str | None = None
    nprobe: int | None = None
    ef_search: int | None = None

    def encodings(self) -> list[MemoryEncoding]:
        """Parsed, de-duplicated memory encodings."""
        specs = (self.memory_encodings,) if isinstance(self.memory_encodings, str) else self.memory_encodings
        parsed = [parse_encoding(e) for e in specs]
        return list(dict.fromkeys(parsed))

    def fields(self) -> FieldNames:
        """Record field names for the corpus reader."""
        return FieldNames(self.text_field, self.title_field, self.id_field)


def make_chunker(embedder: Embedder, chunk_tokens: int, chunk_overlap: int) -> Chunker:
    """The chunker for ``embedder``'s tokenizer and token budget."""
    return Chunker(embedder.tokenizer, chunk_tokens, chunk_overlap, embedder.max_seq_length,
                   embedder.reserved_tokens)


def embedder_info(embedder: Embedder) -> EmbedderInfo:
    """Manifest entry for ``embedder``, probe vector included."""
    probe = [round(float(x), 7) for x in embedder.probe_vector()]
    return EmbedderInfo(embedder.id, embedder.dim, embedder.max_seq_length, PROBE_TEXT, probe)


def build_index(corpus: Any, out_dir: str | Path, *, embedder: str | Embedder | None = None,
                config: BuildConfig | None = None, overwrite: bool = False, progress: bool = True,
                skip_bad: bool = False) -> Index:
    """Build an index of ``corpus`` in ``out_dir`` and return it loaded.

    ``corpus`` is a path (JSONL, JSON, CSV/TSV, Parquet, .txt/.md or a folder of them), a list of dicts or
    strings, or a ``datasets.Dataset`` (see :mod:`indexer.corpus`). The index is written to a staging
    folder and renamed into place, so a failure leaves any previous index at ``out_dir`` untouched; an
    existing index is only replaced with ``overwrite=True``.

    Raises:
        CorpusError: unreadable or empty corpus, or a bad record without ``skip_bad``.
        FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
        ValueError: invalid config (chunk size, factory string, encodings).
    """
    from indexer.index import Index
    from rag.errors import CorpusError

    config = config or BuildConfig()
    out_dir = Path(out_dir)
    check_target(out_dir, overwrite)
    encodings = config.encodings()
    if config.batch_size < 1:
        raise ValueError(f"batch_size={config.batch_size} must be >= 1.")
    model = load_embedder(embedder)
    chunker = make_chunker(model, config.chunk_tokens, config.chunk_overlap)
    index = faiss_store.create_index(config.factory, model.dim)  # a bad factory fails before encoding
    reader = CorpusReader(corpus, config.fields(), skip_bad=skip_bad)
    passages = list(chunker.chunk(reader, reader.policy, progress=progress))
    if not passages:
        raise CorpusError(f"The corpus {reader.describe()} has no documents with text ({reader.skipped} "
                          "skipped as bad). Fix: check the path and the text field (text_field=...).")
    documents = len({p.doc_id for p in passages})
    logger.info("Indexing %d passages from %d documents", len(passages), documents)
    with staging_dir(out_dir) as tmp:
        table = passages_table(passages)
        write_passages(table, tmp / PASSAGES_FILE)
        embeddings = temp_embeddings(tmp, len(passages), model.dim)
        memory = open_memory_outputs(tmp, model, encodings, len(passages))
        encode_to_disk(model, [p.embed_text for p in passages], encodings, memory, embeddings,
                       lengths=[p.n_tokens for p in passages], batch_size=config.batch_size, progress=progress)
        del passages  # the passage texts now live in the table; free the Python objects
        flush_all(memory, embeddings)
        del embeddings
        fill_faiss(index, tmp, tmp / FAISS_FILE, config.seed, progress=progress)
        params = faiss_store.default_search_params(index)
        params.update({k: v for k, v in (("nprobe", config.nprobe), ("efSearch", config.ef_search)) if v})
        Manifest(
            embedder=embedder_info(model), factory=config.factory, rows=index.ntotal,
            chunking=ChunkingInfo(config.chunk_tokens, config.chunk_overlap, chunker.title_budget),
            corpus=CorpusInfo(documents, reader.skipped, fingerprint(table),
                              {k: v for k, v in asdict(config.fields()).items()}),
            memory=memory_infos(memory, encodings), search_params=params,
        ).save(tmp)
        del memory
    publish(tmp, out_dir, overwrite)
    logger.info("Index written to %s", out_dir)
    return Index.load(out_dir, embedder=model, progress=progress)


def embedding_inputs(embedder: Embedder, titles: list[str], texts: list[str], chunk_tokens: int = 200,
                     chunk_overlap: int = 32) -> list[str]:
    """The exact strings an index build embeds for passages ``(title, text)`` (title prefix included).

    Used wherever memory vectors are made outside a build (projector training data, gold passages in a
    benchmark), so they match what the index stores.
    """
    return make_chunker(embedder, chunk_tokens, chunk_overlap).embed_texts(titles, texts)
