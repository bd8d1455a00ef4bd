"""Token streaming: yield an answer's text while the LLM generates it.

:func:`stream_answer` builds the prompt exactly as :meth:`rag.pipeline.RAG.answer` does
(:meth:`~rag.pipeline.RAG.build_prompts` then :func:`rag.prompt.assemble`), runs greedy generation in a
background thread and yields decoded text increments as token ids arrive through the LLM's ``on_tokens``
callback. The concatenated pieces equal ``rag.answer(...)[0].text``: every increment is a prefix of the
final text (first line, stripped), so trailing whitespace and incomplete UTF-8 sequences are held back until
the next token settles them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rag import prompt as P
from rag.answer import check_mode, check_questions
from rag.errors import SqueezeRagError

if TYPE_CHECKING:
    from indexer.hit import Hit
    from rag.pipeline import RAG

logger = logging.getLogger(__name__)

_DONE = object()
_INCOMPLETE = "\ufffd"  # what a decoder prints for a partial UTF-8 sequence


def stream_answer(rag: RAG, question: str, passages: Sequence[Hit] | None, mode: str,
                  max_new_tokens: int | None = None) -> Iterator[str]:
    """Yield the answer to ``question`` piece by piece as it is generated (greedy, like ``rag.answer``).

    ``passages``: the hits to answer from (ignored for ``closed_book``; required otherwise). Hits with
    ``row == -1`` are embedded on the fly for ``compressed``. ``"".join(stream_answer(...))`` equals
    ``rag.answer([question], [passages], mode)[0].text``. Closing the iterator early stops the generation
    at its next token (the background thread is always joined before this returns).
    """
    run = _Generation(rag, question, passages, mode, max_new_tokens or rag.max_new_tokens)
    try:
        yield from _pieces(rag.llm.tokenizer, run.items())
    finally:
        run.stop()


def _pieces(tokenizer: Any, items: Iterator[int | str]) -> Iterator[str]:
    """Settled text increments from token ids, then the rest of the final text (which arrives last)."""
    token_ids: list[int] = []
    emitted = ""
    for item in items:
        if isinstance(item, str):
            if tail := _final_tail(item, emitted):
                yield tail
            return
        token_ids.append(item)
        if piece := _settled_increment(tokenizer, token_ids, emitted):
            emitted += piece
            yield piece


def _final_tail(final: str, emitted: str) -> str:
    """What the stream still owes once the generation's own answer text is known."""
    if final.startswith(emitted):
        return final[len(emitted):]
    logger.warning("Streamed text %r is not a prefix of the final answer %r (the tokenizer's decoding changed "
                   "earlier characters); the stream cannot take it back.", emitted, final)
    return ""


def visible_text(tokenizer: Any, token_ids: list[int]) -> str:
    """The answer text of a (partial) generation: decoded, stripped, first line only, as ``LLM`` does."""
    return tokenizer.decode(token_ids, skip_special_tokens=True).strip().split("\n")[0].strip()


def _settled_increment(tokenizer: Any, token_ids: list[int], emitted: str) -> str:
    """New text that later tokens cannot change: extends ``emitted``, no trailing partial character."""
    text = visible_text(tokenizer, token_ids)
    cut = len(text)
    while cut > 0 and text[cut - 1] == _INCOMPLETE:
        cut -= 1
    text = text[:cut]
    if len(text) <= len(emitted) or not text.startswith(emitted):
        return ""
    return text[len(emitted):]


class _Cancelled(Exception):
    """Raised inside the generation thread to stop it when the consumer closed the stream."""


class _Generation:
    """One greedy generation in a background thread, its token ids handed over through a queue.

    The prompt is built and assembled in the caller's thread, so invalid input raises there and at once.
    """

    def __init__(self, rag: RAG, question: str, passages: Sequence[Hit] | None, mode: str,
                 max_new_tokens: int) -> None:
        check_mode(mode)
        check_questions([question])
        if mode != "closed_book" and passages is None:
            raise ValueError(f"mode '{mode}' needs passages (a list of hits); pass passages=[] for none")
        if mode == "compressed" and rag.projector is None:
            raise SqueezeRagError("mode 'compressed' needs a projector: RAG(..., projector='dir') or "
                                  "RAG.from_defaults(); train one with `squeezerag train`")
        built = rag.build_prompts([question], [list(passages or [])], mode)
        batch = P.assemble(rag.llm, built.prompts, built.soft)
        processors = rag.logits_processors(built, mode)
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(rag, batch, mode, max_new_tokens, processors),
                                        name="squeezerag-stream", daemon=True)
        self._thread.start()

    def _run(self, rag: RAG, batch: P.PromptBatch, mode: str, max_new_tokens: int, processors: list) -> None:
        try:
            with rag.reading(mode):  # entered in this thread: the adapter applies to this thread's forwards only
                gen = rag.llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, max_new_tokens,
                                                   on_tokens=self._on_tokens, logits_processors=processors)
            self._queue.put(gen.texts[0])
        except _Cancelled:
            logger.debug("Streaming generation stopped early: the consumer closed the stream")
        except BaseException as exc:  # handed to the consuming thread, which re-raises it
            self._queue.put(exc)
        finally:
            self._queue.put(_DONE)

    def _on_tokens(self, step_ids: Any) -> None:
        if self._cancel.is_set():
            raise _Cancelled
        self._queue.put(int(step_ids.reshape(-1)[0]))

    def items(self) -> Iterator[int | str]:
        """Token ids as generated, then the final answer text; re-raises the thread's exception."""
        while (item := self._queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        """Ask the thread to stop at its next token and wait for it."""
        self._cancel.set()
        self._thread.join()
