"""``as_chain``: the ready-made LCEL chain ``{"docs": retriever, "question": passthrough} | generator``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough

from rag.errors import SqueezeRagError
from rag.langchain.generator import SqueezeGenerator
from rag.langchain.retriever import SqueezeRetriever

if TYPE_CHECKING:
    from rag.pipeline import RAG

logger = logging.getLogger(__name__)


def as_chain(rag: RAG, mode: str = "compressed", k: int = 3, max_new_tokens: int | None = None,
             with_sources: bool = False) -> Runnable[str, Any]:
    """Question -> answer over ``rag``'s index and LLM, as a LangChain runnable.

    ``invoke``/``batch``/``stream`` take a question string. The answer is a string, or with
    ``with_sources=True`` a dict ``{"question", "docs", "answer"}`` (streamed as ``{"answer": piece}``
    chunks after the docs). ``closed_book`` skips retrieval (``docs`` is ``[]``).
    """
    generator = SqueezeGenerator(rag, mode=mode, max_new_tokens=max_new_tokens)
    inputs = RunnableParallel(docs=_docs_step(rag, mode, k), question=RunnablePassthrough())
    if with_sources:
        return inputs.assign(answer=generator).with_config(run_name=f"squeezerag[{mode}]")
    return (inputs | generator).with_config(run_name=f"squeezerag[{mode}]")


def _docs_step(rag: RAG, mode: str, k: int) -> Runnable[str, list]:
    if mode == "closed_book":
        return RunnableLambda(_no_docs, name="no_retrieval")
    if rag.index is None:
        raise SqueezeRagError(f"mode '{mode}' retrieves from an index but the RAG has none. Fix: "
                              "RAG(index='path/to/index') or RAG.from_defaults(), or use mode='closed_book'")
    return SqueezeRetriever(index=rag.index, k=k)


def _no_docs(_question: str) -> list:
    return []
