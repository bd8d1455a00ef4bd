"""Incremental updates of an index directory: append documents, add a memory encoding.

Both write a complete new version of the directory in a staging folder and swap it in, like a build, so a
failure leaves the index as it was. Files that do not change are hard-linked (never modified in place, so
sharing them is safe), falling back to a copy across filesystems.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from indexer import faiss_store
from indexer.atomic import publish, staging_dir
from indexer.build import make_chunker
from indexer.corpus import CorpusReader, FieldNames
from indexer.manifest import MANIFEST_FILE, CorpusInfo, now
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


def add_documents(index: Index, corpus: Any, progress: bool = True, skip_bad: bool = False) -> int:
    """Chunk, embed and append ``corpus`` to ``index`` (all its memory encodings); returns passages added.

    IVF indexes keep their trained quantizer; documents whose id is already indexed are refused.
    """
    from rag.errors import CorpusError

    manifest, embedder = index.manifest, index.embedder
    chunker = make_chunker(embedder, manifest.chunking.chunk_tokens, manifest.chunking.chunk_overlap)
    old_table = index.table
    existing = set(old_table.column("doc_id").to_pylist())
    reader = CorpusReader(corpus, FieldNames(**manifest.corpus.fields), skip_bad, existing_ids=existing)
    passages = list(chunker.chunk(reader, reader.policy, progress=progress))
    if not passages:
        raise CorpusError(f"Nothing to add: {reader.describe()} has no new documents with text "
                          f"({reader.skipped} skipped as bad). Fix: check the corpus and its text field.")
    old_rows, new_rows = len(index), len(passages)
    encodings = [parse_encoding(name) for name in manifest.memory]
    with staging_dir(index.dir) as tmp:
        table = pa.concat_tables([old_table, passages_table(passages)])
        write_passages(table, tmp / manifest.passages_file)
        embeddings = temp_embeddings(tmp, new_rows, embedder.dim)
        memory = open_memory_outputs(tmp, embedder, encodings, old_rows + new_rows, copy_from=index.dir)
        encode_to_disk(embedder, [p.embed_text for p in passages], encodings, memory, embeddings,
                       row_offset=old_rows, lengths=[p.n_tokens for p in passages], progress=progress)
        flush_all(memory, embeddings)
        del embeddings
        # A fresh CPU copy from disk: the loaded one may live on a GPU.
        faiss_index = faiss_store.read_index(index.dir / manifest.faiss_file)
        fill_faiss(faiss_index, tmp, tmp / manifest.faiss_file, seed=0, progress=progress)
        corpus_info = CorpusInfo(manifest.corpus.documents + len({p.doc_id for p in passages}),
                                 manifest.corpus.skipped + reader.skipped, fingerprint(table),
                                 manifest.corpus.fields)
        dataclasses.replace(manifest, rows=faiss_index.ntotal, corpus=corpus_info,
                            memory=memory_infos(memory, encodings), updated=now()).save(tmp)
        del memory
    publish(tmp, index.dir)
    logger.info("Added %d passages to %s (now %d)", new_rows, index.dir, old_rows + new_rows)
    return new_rows


def add_memory_encoding(index: Index, encoding: MemoryEncoding, progress: bool = True) -> bool:
    """Compute ``encoding`` for every row from the stored passages; ``False`` if it already exists."""
    manifest, embedder = index.manifest, index.embedder
    if encoding.name in manifest.memory:
        logger.info("Index %s already has %r memory; nothing to do.", index.dir, encoding.name)
        return False
    chunker = make_chunker(embedder, manifest.chunking.chunk_tokens, manifest.chunking.chunk_overlap)
    table = index.table.select(["title", "text"])
    texts = chunker.embed_texts(table.column("title").to_pylist(), table.column("text").to_pylist())
    with staging_dir(index.dir) as tmp:
        for name in os.listdir(index.dir):
            if name != MANIFEST_FILE:
                _link_or_copy(index.dir / name, tmp / name)
        memory = open_memory_outputs(tmp, embedder, [encoding], len(index))
        encode_to_disk(embedder, texts, [encoding], memory, progress=progress)
        flush_all(memory)
        infos = {**manifest.memory, **memory_infos(memory, [encoding])}
        dataclasses.replace(manifest, memory=infos, updated=now()).save(tmp)
        del memory
    publish(tmp, index.dir)
    logger.info("Added %r memory to %s", encoding.name, index.dir)
    return True


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
