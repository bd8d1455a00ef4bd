"""Split documents into passages measured in the embedder's own tokens.

Each document is tokenized once with the fast tokenizer's character offsets, so every passage text is an
exact substring of the document. Windows hold at most ``chunk_tokens`` tokens, consecutive windows share at
least ``chunk_overlap`` tokens, and boundaries are moved back to word starts where possible (a word cut in
half tokenizes differently when embedded). A long document becomes many passages; nothing is truncated.

The text that is embedded is ``"{title}\\n{passage}"`` (just the passage when there is no title): the title
gives each chunk of a long document its context. The title is cut to the tokens left over by
``max_seq_length - special tokens - chunk_tokens`` so the passage itself always fits; the ``title`` column
stores the full title.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from tqdm.auto import tqdm

from indexer.corpus import Document
from indexer.readers import BadInputPolicy

logger = logging.getLogger(__name__)

# Documents tokenized per call: big enough for the Rust tokenizer's batching, small enough for bounded RAM.
_DOCS_PER_CALL = 256


@dataclass
class Passage:
    """One chunk of a document: ``id = "{doc_id}#{i}"``, ``text = document.text[start:end]``;
    ``embed_text`` is what the embedder reads and ``n_tokens`` its token count (without special tokens)."""

    id: str
    doc_id: str
    title: str
    text: str
    embed_text: str
    n_tokens: int
    start: int = 0
    end: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


class Chunker:
    """Token-window chunker for one embedder's tokenizer.

    Args:
        tokenizer: a fast Hugging Face tokenizer (character offsets are required).
        chunk_tokens: maximum tokens per passage.
        chunk_overlap: tokens shared by consecutive passages of a document.
        max_seq_length: the embedder's input limit, special tokens included.
        reserved_tokens: tokens of every input not available to text (special tokens, prompt).
    """

    def __init__(self, tokenizer: Any, chunk_tokens: int, chunk_overlap: int, max_seq_length: int,
                 reserved_tokens: int) -> None:
        limit = max_seq_length - reserved_tokens
        if not 1 <= chunk_tokens <= limit:
            raise ValueError(f"chunk_tokens={chunk_tokens} does not fit the embedder: it reads "
                             f"{max_seq_length} tokens of which {reserved_tokens} are special. "
                             f"Fix: use 1 <= chunk_tokens <= {limit}.")
        if not 0 <= chunk_overlap < chunk_tokens:
            raise ValueError(f"chunk_overlap={chunk_overlap} must be >= 0 and < chunk_tokens={chunk_tokens}. "
                             "Fix: lower chunk_overlap.")
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("Chunking needs a fast tokenizer (character offsets). Fix: use an embedder that "
                             "ships a tokenizer.json.")
        self.tokenizer = tokenizer
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        # One token of slack for the title/passage separator, which some tokenizers keep as a token.
        self.title_budget = max(0, limit - chunk_tokens - 1)

    def _tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True,
                              return_attention_mask=False, return_token_type_ids=False, verbose=False)

    def title_prefixes(self, titles: list[str]) -> tuple[list[str], list[int]]:
        """Titles cut to :attr:`title_budget` tokens (at token boundaries) and their token counts."""
        if self.title_budget == 0:
            return ["" for _ in titles], [0 for _ in titles]
        prefixes, counts = [], []
        for title, offsets in zip(titles, self._tokenize(titles)["offset_mapping"], strict=True):
            keep = min(len(offsets), self.title_budget)
            prefixes.append(title if keep == len(offsets) else title[:offsets[keep - 1][1]])
            counts.append(keep)
        return prefixes, counts

    def embed_texts(self, titles: list[str], texts: list[str]) -> list[str]:
        """The strings the embedder reads for passages ``(title, text)``; used again by ``add_memory``."""
        prefixes, _ = self.title_prefixes(titles)
        return [_join(prefix, text) for prefix, text in zip(prefixes, texts, strict=True)]

    def chunk(self, documents: Iterable[Document], policy: BadInputPolicy | None = None,
              progress: bool = False) -> Iterator[Passage]:
        """Passages of ``documents`` in document order."""
        policy = policy or BadInputPolicy(skip_bad=False)
        iterator = iter(documents)
        with tqdm(desc="Chunking", unit="doc", disable=not progress) as bar:
            while batch := list(islice(iterator, _DOCS_PER_CALL)):
                yield from self._chunk_batch(batch, policy)
                bar.update(len(batch))

    def _chunk_batch(self, docs: list[Document], policy: BadInputPolicy) -> Iterator[Passage]:
        encoded = self._tokenize([d.text for d in docs])
        prefixes, title_tokens = self.title_prefixes([d.title for d in docs])
        for i, doc in enumerate(docs):
            offsets = encoded["offset_mapping"][i]
            if not offsets:
                policy.skip(f"{doc.location}: document {doc.id!r} has no tokens (only characters the "
                            "tokenizer drops).", "Fix: remove it or give it real text.")
                continue
            windows = split_windows(_word_starts(encoded.word_ids(i)), self.chunk_tokens, self.chunk_overlap)
            for j, (first, stop) in enumerate(windows):
                start, end = offsets[first][0], offsets[stop - 1][1]
                text = doc.text[start:end]
                yield Passage(f"{doc.id}#{j}", doc.id, doc.title, text, _join(prefixes[i], text),
                              stop - first + title_tokens[i], start, end, doc.metadata)


def _join(prefix: str, text: str) -> str:
    return f"{prefix}\n{text}" if prefix else text


def _word_starts(word_ids: list[int | None]) -> list[bool]:
    """``starts[i]``: token ``i`` begins a new word (a boundary where a window may start or end)."""
    return [i == 0 or w is None or w != word_ids[i - 1] for i, w in enumerate(word_ids)]


def split_windows(word_starts: list[bool], size: int, overlap: int) -> list[tuple[int, int]]:
    """Token windows ``[start, end)`` covering all tokens.

    Windows hold at most ``size`` tokens, consecutive ones share at least ``overlap`` tokens, and both ends
    sit on word starts unless a single word is longer than the room left (then the cut is mid-word).
    """
    n = len(word_starts)
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + size, n)
        if end < n:
            # Latest word start that still leaves progress beyond the overlap.
            end = next((e for e in range(end, start + overlap, -1) if word_starts[e]), end)
        windows.append((start, end))
        if end >= n:
            return windows
        # Latest word start at or before end - overlap, after the current start.
        target = end - overlap
        start = next((s for s in range(target, start, -1) if word_starts[s]), target)
