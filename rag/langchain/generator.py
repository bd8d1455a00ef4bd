"""``SqueezeGenerator``: answer ``{"question", "docs"}`` with a :class:`~rag.pipeline.RAG` in one mode.

``invoke`` answers one input, ``batch`` answers all inputs in batched generation through ``rag.answer``,
``stream`` yields the answer as tokens are generated (:func:`rag.streaming.stream_answer`). Documents are
turned back into hits (:func:`~rag.langchain.documents.hits_from_documents`), so ``compressed`` reads the
stored memory vectors of documents retrieved from the RAG's index and embeds any other document on the fly
(a ``wordpieces`` projector, the shipped one, reads every document's text through its selected windows).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor

from indexer.hit import Hit
from rag.answer import MODES
from rag.errors import InvalidQuestionError, SqueezeRagError
from rag.langchain.documents import hits_from_documents
from rag.streaming import stream_answer

if TYPE_CHECKING:
    from rag.pipeline import RAG

logger = logging.getLogger(__name__)

_END = object()
_CHAIN_HINT = "{'docs': retriever, 'question': RunnablePassthrough()} | generator"


class SqueezeGenerator(Runnable[dict[str, Any], str]):
    """A runnable taking ``{"question": str, "docs": list[Document]}`` (or a bare question) to an answer.

    Args:
        rag: the pipeline whose LLM (and projector, for ``compressed``) answers.
        mode: ``closed_book`` (docs ignored), ``full_text`` or ``compressed``.
        max_new_tokens: generation budget; ``None`` uses ``rag.max_new_tokens``.
        batch_size: questions generated together by :meth:`batch`.
    """

    def __init__(self, rag: RAG, mode: str = "compressed", max_new_tokens: int | None = None,
                 batch_size: int = 8) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}': choose one of {', '.join(MODES)}")
        if mode == "compressed" and rag.projector is None:
            raise SqueezeRagError("mode 'compressed' needs a projector: RAG(..., projector='dir') or "
                                  "RAG.from_defaults(); or use mode='full_text'")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1. Fix: pass a positive batch size.")
        self.rag = rag
        self.mode = mode
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.name = f"SqueezeGenerator[{mode}]"

    def __repr__(self) -> str:
        return f"SqueezeGenerator(mode={self.mode!r}, llm={self.rag.llm.id!r}, max_new_tokens={self.max_new_tokens})"

    # --- Runnable interface ------------------------------------------------------------------------
    def invoke(self, input: dict[str, Any] | str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        """The answer text for one input."""
        return self._call_with_config(lambda item: self._answer([item])[0], input, config)

    def batch(self, inputs: list[dict[str, Any] | str], config: RunnableConfig | list[RunnableConfig] | None = None,
              *, return_exceptions: bool = False, **kwargs: Any) -> list[str]:
        """Answers for all inputs, generated ``batch_size`` at a time (one ``rag.answer`` call)."""
        return self._batch_with_config(self._answer_many, list(inputs), config,
                                       return_exceptions=return_exceptions)

    async def abatch(self, inputs: list[dict[str, Any] | str],
                     config: RunnableConfig | list[RunnableConfig] | None = None, *,
                     return_exceptions: bool = False, **kwargs: Any) -> list[str]:
        """:meth:`batch` in the default executor (batched generation, not one thread per input)."""
        return await run_in_executor(None, self.batch, inputs, config, return_exceptions=return_exceptions)

    def stream(self, input: dict[str, Any] | str, config: RunnableConfig | None = None,
               **kwargs: Any) -> Iterator[str]:
        """Text pieces as they are generated; ``"".join`` of them equals :meth:`invoke`'s answer."""
        yield from self.transform(iter([input]), config)

    def transform(self, input: Iterator[dict[str, Any] | str], config: RunnableConfig | None = None,
                  **kwargs: Any) -> Iterator[str]:
        """Gather the streamed input chunks (e.g. from a ``RunnableParallel``), then stream the answer."""
        yield from self._transform_stream_with_config(input, self._stream_tokens, config)

    async def astream(self, input: dict[str, Any] | str, config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[str]:
        """:meth:`stream`, each next piece awaited in the default executor."""
        iterator = self.stream(input, config)
        try:
            while (piece := await run_in_executor(None, next, iterator, _END)) is not _END:
                yield piece
        finally:  # stops and joins the generation thread when the consumer leaves early
            await run_in_executor(None, iterator.close)

    # --- internals ---------------------------------------------------------------------------------
    def _answer(self, inputs: list[Any]) -> list[str]:
        return self._generate([self._parse(item) for item in inputs])

    def _generate(self, parsed: list[tuple[str, list[Hit]]]) -> list[str]:
        """One ``rag.answer`` call (batched ``batch_size`` at a time) for parsed ``(question, hits)``."""
        questions = [q for q, _ in parsed]
        passages = None if self.mode == "closed_book" else [hits for _, hits in parsed]
        answers = self.rag.answer(questions, passages, self.mode, batch_size=self.batch_size,
                                  max_new_tokens=self.max_new_tokens)
        return [a.text for a in answers]

    def _answer_many(self, inputs: list[Any]) -> list[str | Exception]:
        """Answer the well-formed inputs together; a malformed one gets its own exception (not the batch's)."""
        out: list[str | Exception] = []
        parsed: dict[int, tuple[str, list[Hit]]] = {}
        for i, item in enumerate(inputs):
            try:
                parsed[i] = self._parse(item)
                out.append("")
            except Exception as exc:  # reported per input by _batch_with_config
                out.append(exc)
        if parsed:
            for i, text in zip(parsed, self._generate(list(parsed.values()))):
                out[i] = text
        return out

    def _stream_tokens(self, chunks: Iterator[Any]) -> Iterator[str]:
        question, hits = self._parse(_merge_chunks(chunks))
        yield from stream_answer(self.rag, question, None if self.mode == "closed_book" else hits, self.mode,
                                 self.max_new_tokens)

    def _parse(self, item: Any) -> tuple[str, list[Hit]]:
        """``(question, hits)`` from ``{"question", "docs"}`` or a bare question string."""
        if isinstance(item, str):
            item = {"question": item, "docs": []}
        if not isinstance(item, Mapping) or not isinstance(item.get("question"), str):
            raise TypeError(f"SqueezeGenerator takes {{'question': str, 'docs': [Document, ...]}}, got "
                            f"{_describe(item)}. Fix: build the chain as {_CHAIN_HINT}")
        if not item["question"].strip():
            raise InvalidQuestionError("the question is empty or whitespace: ask a question with some words in it")
        docs = item.get("docs")
        if docs is None:
            if self.mode != "closed_book":
                raise ValueError(f"mode '{self.mode}' needs documents but the input has no 'docs'. Fix: "
                                 f"{_CHAIN_HINT}, or pass 'docs': [] to answer without context")
            docs = []
        if self.mode == "closed_book":
            return item["question"], []
        return item["question"], hits_from_documents(list(docs), self.rag.index)


def _merge_chunks(chunks: Iterator[Any]) -> Any:
    """One input from streamed chunks: dict chunks are merged key by key, anything else: the last one."""
    merged: Any = None
    for chunk in chunks:
        if isinstance(merged, Mapping) and isinstance(chunk, Mapping):
            merged = {**merged, **chunk}
        else:
            merged = chunk
    if merged is None:
        raise ValueError(f"SqueezeGenerator.transform got no input. Fix: {_CHAIN_HINT}")
    return merged


def _describe(item: Any) -> str:
    if isinstance(item, Mapping):
        return f"a mapping with keys {sorted(map(str, item))}"
    return f"a {type(item).__name__}"
