"""``SqueezeRetriever``: a LangChain retriever over a squeezerag :class:`~indexer.Index`."""

from __future__ import annotations

import logging

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from indexer.index import Index
from rag.langchain.documents import hits_to_documents

logger = logging.getLogger(__name__)


class SqueezeRetriever(BaseRetriever):
    """Top-``k`` passages of ``index`` as ``Document`` (id = passage id; metadata title, score, row, doc_id).

    ``k`` is a field (``SqueezeRetriever(index=index, k=3)``) and can be overridden per call
    (``retriever.invoke(query, k=1)``). ``metadata["row"]`` lets the ``compressed`` generator read the
    passage's stored memory vectors instead of re-embedding it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    """The index to search (its query embedder is loaded on first use)."""
    k: int = Field(default=4, ge=1)
    """Number of documents to return."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None) -> list[Document]:
        """Search the index; ``k`` (a keyword of ``invoke``) overrides the field for this call."""
        hits = self.index.search([query], k=self.k if k is None else k)[0]
        logger.debug("Retrieved %d passages for %r", len(hits), query)
        return hits_to_documents(self.index, hits)

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None) -> list[Document]:
        """The sync search in the default executor (FAISS and the embedder release the GIL)."""
        return await run_in_executor(None, self._get_relevant_documents, query,
                                     run_manager=run_manager.get_sync(), k=k)
