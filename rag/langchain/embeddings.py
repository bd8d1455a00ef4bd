"""``SqueezeEmbeddings``: the index's embedder as a LangChain ``Embeddings``."""

from __future__ import annotations

import logging

from langchain_core.embeddings import Embeddings

from indexer.embedder import Embedder, load_embedder
from indexer.index import Index

logger = logging.getLogger(__name__)


class SqueezeEmbeddings(Embeddings):
    """Embed with a squeezerag :class:`~indexer.Embedder`: documents as stored, queries with the query prompt.

    ``source``: an :class:`~indexer.Index` (its probe-checked query embedder, loaded on first use), an
    ``Embedder``, or a model name/path (``None`` = the bundled all-MiniLM-L6-v2). ``embed_query`` gives the
    same vector as ``index.embed_queries``; vectors are L2-normalised, so inner product = cosine.
    """

    def __init__(self, source: Index | Embedder | str | None = None, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1. Fix: pass a positive batch size.")
        self._source = source
        self._embedder: Embedder | None = source if isinstance(source, Embedder) else None
        self.batch_size = batch_size

    @property
    def embedder(self) -> Embedder:
        """The wrapped embedder (an index's or a named one is loaded on first access)."""
        if self._embedder is None:
            if isinstance(self._source, Index):
                self._embedder = self._source.embedder
            else:
                self._embedder = load_embedder(self._source)
        return self._embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passage embeddings (``Embedder.encode``), one list of floats per text."""
        if not texts:
            return []
        return self.embedder.encode(list(texts), batch_size=self.batch_size).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Query embedding (``Embedder.encode_queries``: the model's query prompt, if any)."""
        return self.embedder.encode_queries([text], batch_size=self.batch_size)[0].tolist()
