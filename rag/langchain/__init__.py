"""LangChain integration: a retriever, a generator runnable, an embeddings adapter and a ready LCEL chain.

```python
from rag import RAG
from rag.langchain import SqueezeRetriever, SqueezeGenerator, as_chain
chain = as_chain(RAG.from_defaults(), mode="compressed", k=3)
chain.invoke("Who designed the Eiffel Tower?")
for piece in chain.stream("Who designed the Eiffel Tower?"):
    ...
```

Only ``langchain-core`` is needed (never ``langchain-community``). It is imported here, not by ``rag`` or
``rag.pipeline``: importing this package without it raises :class:`~rag.errors.MissingPackageError`.
"""

from __future__ import annotations

from rag.errors import MissingPackageError

try:
    import langchain_core  # noqa: F401
except ImportError as exc:
    raise MissingPackageError("The LangChain integration (rag.langchain)", "langchain-core") from exc

from rag.langchain.chain import as_chain  # noqa: E402
from rag.langchain.documents import document_to_hit, hit_to_document, hits_from_documents  # noqa: E402
from rag.langchain.embeddings import SqueezeEmbeddings  # noqa: E402
from rag.langchain.generator import SqueezeGenerator  # noqa: E402
from rag.langchain.retriever import SqueezeRetriever  # noqa: E402

__all__ = [
    "SqueezeEmbeddings",
    "SqueezeGenerator",
    "SqueezeRetriever",
    "as_chain",
    "document_to_hit",
    "hit_to_document",
    "hits_from_documents",
]
