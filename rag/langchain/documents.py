"""Conversions between squeezerag :class:`~indexer.Hit` and LangChain ``Document``.

A retrieved passage becomes ``Document(id=passage id, page_content=text, metadata={title, score, row,
doc_id, ...source fields})``. Going back, ``metadata["row"]`` lets ``compressed`` mode read the passage's
stored memory vectors instead of re-embedding it; a document without a usable row gets ``row = -1`` and is
embedded on the fly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document

from indexer.hit import Hit
from indexer.index import Index

logger = logging.getLogger(__name__)

# Keys squeezerag sets in Document.metadata; a source record's own fields never override them.
RESERVED_KEYS = ("title", "score", "row", "doc_id")


def hit_to_document(hit: Hit, doc_id: str | None = None) -> Document:
    """A LangChain ``Document`` for ``hit``; the source record's fields are kept in the metadata too."""
    metadata: dict[str, Any] = {key: value for key, value in hit.metadata.items() if key not in RESERVED_KEYS}
    metadata.update(title=hit.title, score=float(hit.score), row=int(hit.row))
    if doc_id is not None:
        metadata["doc_id"] = doc_id
    return Document(id=hit.id, page_content=hit.text, metadata=metadata)


def hits_to_documents(index: Index, hits: Sequence[Hit]) -> list[Document]:
    """Documents for hits of ``index``, with ``doc_id`` read from its passages table."""
    rows = [h.row for h in hits if h.row >= 0]
    doc_ids = dict(zip(rows, index.table.column("doc_id").take(rows).to_pylist())) if rows else {}
    return [hit_to_document(h, doc_ids.get(h.row)) for h in hits]


def document_to_hit(doc: Document | Hit) -> Hit:
    """The :class:`Hit` a document stands for (a ``Hit`` passes through); no usable row -> ``row = -1``."""
    if isinstance(doc, Hit):
        return doc
    if not isinstance(doc, Document):
        raise TypeError(f"expected a langchain Document (or an indexer Hit), got {type(doc).__name__}. "
                        "Fix: pass the retriever's output, e.g. {'docs': retriever, 'question': "
                        "RunnablePassthrough()} | generator")
    meta = doc.metadata or {}
    row = meta.get("row", -1)
    row = int(row) if isinstance(row, int) and not isinstance(row, bool) and row >= 0 else -1
    score = meta.get("score")
    score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else math.nan
    return Hit(id=str(doc.id or meta.get("id") or ""), title=str(meta.get("title") or ""), text=doc.page_content,
               score=score, row=row)


def hits_from_documents(docs: Sequence[Document | Hit], index: Index | None) -> list[Hit]:
    """Hits for ``docs``, keeping a row only where ``index`` holds that very passage at that row.

    A row from another index (or a document whose text was edited) would read the wrong memory vectors, so
    such rows are dropped (``-1``: the passage is embedded on the fly) with a warning.
    """
    hits = [document_to_hit(d) for d in docs]
    stored = [i for i, h in enumerate(hits) if h.row >= 0]
    if not stored:
        return hits
    if index is None:
        return [_without_row(h) for h in hits]
    valid = [i for i in stored if hits[i].row < len(index)]
    found = dict(zip(valid, index.passages([hits[i].row for i in valid])))
    out = list(hits)
    for i in stored:
        passage = found.get(i)
        if passage is None or passage.id != hits[i].id or passage.text != hits[i].text:
            logger.warning("Document %r claims row %d, which holds another passage in %s; embedding it on the "
                           "fly instead. Fix: retrieve with a SqueezeRetriever over the RAG's own index.",
                           hits[i].id, hits[i].row, index.dir)
            out[i] = _without_row(hits[i])
    return out


def _without_row(hit: Hit) -> Hit:
    return Hit(hit.id, hit.title, hit.text, hit.score, -1, hit.metadata)
