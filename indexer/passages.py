"""``passages.parquet``: one row per passage, row order = FAISS ids.

Columns: ``id`` (``"{doc_id}#{i}"``), ``doc_id``, ``title``, ``text`` (exact substring of the document) and
``metadata`` (the document's other fields as a JSON string, so heterogeneous records share one schema).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from indexer.chunking import Passage

logger = logging.getLogger(__name__)

SCHEMA = pa.schema([("id", pa.string()), ("doc_id", pa.string()), ("title", pa.string()),
                    ("text", pa.string()), ("metadata", pa.string())])


def passages_table(passages: Sequence[Passage]) -> pa.Table:
    """Arrow table of ``passages`` in :data:`SCHEMA`."""
    columns = {
        "id": [p.id for p in passages],
        "doc_id": [p.doc_id for p in passages],
        "title": [p.title for p in passages],
        "text": [p.text for p in passages],
        # default=str: dates, numpy scalars etc. in source records must not abort a build.
        "metadata": [json.dumps(p.metadata, ensure_ascii=False, default=str) for p in passages],
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def write_passages(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet (zstd: text compresses well and reads fast)."""
    pq.write_table(table, path, compression="zstd")


def read_passages(path: Path) -> pa.Table:
    """Memory-mapped read of ``passages.parquet``."""
    return pq.read_table(path, memory_map=True, schema=SCHEMA)


def fingerprint(table: pa.Table) -> str:
    """``"sha256:<hex>"`` over every passage's id, title and text, in row order."""
    digest = hashlib.sha256()
    for batch in table.select(["id", "title", "text"]).to_batches(max_chunksize=8192):
        for row_id, title, text in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            digest.update(f"{row_id}\x1f{title}\x1f{text}\x1e".encode())
    return "sha256:" + digest.hexdigest()
