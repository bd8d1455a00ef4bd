"""Shared write path of :func:`~indexer.build.build_index`, ``Index.add`` and ``Index.add_memory``.

Passages are embedded in length-sorted batches (less padding) and every batch goes straight to disk:
retrieval embeddings into a temporary fp32 ``.npy`` (FAISS is trained and filled from it afterwards, in row
order), memory encodings into their fp16 memory-mapped files. Nothing of size ``(rows, m, d)`` is ever held
in RAM.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
from tqdm.auto import tqdm

from indexer import faiss_store
from indexer.embedder import Embedder
from indexer.manifest import MemoryInfo
from indexer.memory import MemoryEncoding, copy_rows, create_memory_file, to_fp16

logger = logging.getLogger(__name__)

EMBEDDINGS_TMP_FILE = "embeddings.f32.tmp.npy"


def encoding_dim(embedder: Embedder, encoding: MemoryEncoding) -> int:
    """Width ``d`` of one memory vector: the sentence dim for ``pooled``, the token dim for ``segments``."""
    return embedder.dim if encoding.kind == "pooled" else embedder.token_dim


def open_memory_outputs(directory: Path, embedder: Embedder, encodings: Sequence[MemoryEncoding],
                        rows: int, copy_from: Path | None = None) -> dict[str, np.memmap]:
    """Create one fp16 ``(rows, m, d)`` memory file per encoding in ``directory``.

    With ``copy_from`` (an existing index directory), each file starts with that index's rows.
    """
    outputs = {}
    for encoding in encodings:
        array = create_memory_file(directory / encoding.file_name, rows, encoding.m,
                                   encoding_dim(embedder, encoding))
        if copy_from is not None:
            copy_rows(copy_from / encoding.file_name, array)
        outputs[encoding.name] = array
    return outputs


def memory_infos(outputs: dict[str, np.memmap], encodings: Sequence[MemoryEncoding]) -> dict[str, MemoryInfo]:
    """Manifest entries for the files from :func:`open_memory_outputs`."""
    return {e.name: MemoryInfo(e.name, e.file_name, list(outputs[e.name].shape)) for e in encodings}


def encode_to_disk(embedder: Embedder, texts: Sequence[str], encodings: Sequence[MemoryEncoding],
                   memory_out: dict[str, np.ndarray], embeddings_out: np.ndarray | None = None,
                   row_offset: int = 0, lengths: Sequence[int] | None = None, batch_size: int = 64,
                   progress: bool = False) -> None:
    """Embed ``texts`` and write row ``i``'s results to ``embeddings_out[i]`` ``(n, d)`` and
    ``memory_out[enc][row_offset + i]`` ``(rows, m, d)``.

    ``lengths`` (token counts) order the batches; character counts are used when absent.
    """
    n = len(texts)
    keys = np.asarray(lengths if lengths is not None else [len(t) for t in texts])
    order = np.argsort(-keys, kind="stable")
    names = [e.name for e in encodings]
    full_window = 0
    with tqdm(total=n, desc="Embedding", unit="passage", disable=not progress) as bar:
        for start in range(0, n, batch_size):
            rows = np.sort(order[start:start + batch_size])  # sorted rows: sequential memmap writes
            embeddings, memory, token_counts = embedder.forward_batch([texts[i] for i in rows], names,
                                                                      return_lengths=True)
            full_window += int((token_counts >= embedder.max_seq_length).sum())
            if embeddings_out is not None:
                embeddings_out[rows] = embeddings
            for name, values in memory.items():
                memory_out[name][rows + row_offset] = to_fp16(values)
            bar.update(len(rows))
    if full_window:
        logger.warning("%d passage(s) filled the embedder's whole %d-token window and may have been "
                       "truncated when embedded. Fix: lower chunk_tokens.", full_window,
                       embedder.max_seq_length)


def temp_embeddings(directory: Path, rows: int, dim: int) -> np.memmap:
    """Scratch fp32 ``(rows, dim)`` file for the retrieval embeddings; :func:`fill_faiss` consumes it."""
    return np.lib.format.open_memmap(directory / EMBEDDINGS_TMP_FILE, mode="w+", dtype=np.float32,
                                     shape=(rows, dim))


def fill_faiss(index: faiss.Index, directory: Path, out_file: Path, seed: int, progress: bool = False) -> None:
    """Train ``index`` if needed, add the scratch embeddings in row order, write it, delete the scratch file.

    The caller must have flushed and dropped its handle of the :func:`temp_embeddings` array.
    """
    scratch = directory / EMBEDDINGS_TMP_FILE
    embeddings = np.load(scratch, mmap_mode="r")
    faiss_store.train_index(index, embeddings, seed=seed)
    faiss_store.add_vectors(index, embeddings, progress=progress)
    faiss_store.write_index(index, out_file)
    del embeddings  # unmap before unlinking (required on Windows)
    scratch.unlink()


def flush_all(*arrays: np.memmap | dict[str, np.memmap]) -> None:
    """Flush memory-mapped outputs (arrays or dicts of arrays) to disk before the folder is published."""
    for item in arrays:
        for array in item.values() if isinstance(item, dict) else (item,):
            array.flush()
