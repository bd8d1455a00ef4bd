"""Chunking in embedder tokens: sizes, overlap, exact substrings, titles, huge documents."""

from __future__ import annotations

from itertools import pairwise

import pytest

from indexer import Chunker, Document
from indexer.chunking import split_windows
from indexer.readers import BadInputPolicy
from rag.errors import CorpusError


def _chunker(embedder, chunk_tokens: int = 16, overlap: int = 4) -> Chunker:
    return Chunker(embedder.tokenizer, chunk_tokens, overlap, embedder.max_seq_length, embedder.reserved_tokens)


def _n_tokens(embedder, text: str) -> int:
    return len(embedder.tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("n,size,overlap", [(1, 5, 0), (10, 5, 2), (100, 16, 4), (37, 8, 7), (50, 50, 10)])
def test_split_windows_cover_with_overlap(n: int, size: int, overlap: int) -> None:
    windows = split_windows([True] * n, size, overlap)
    assert windows[0][0] == 0 and windows[-1][1] == n
    assert all(0 < e - s <= size for s, e in windows)
    assert all(prev[1] - nxt[0] >= overlap and nxt[0] > prev[0] for prev, nxt in pairwise(windows))


def test_split_windows_prefer_word_starts() -> None:
    starts = [True, False, False, True, False, True, False, False, True, False]
    windows = split_windows(starts, 6, 1)
    assert windows[0] == (0, 5)  # token 5 starts a word; 6 would cut a word
    assert all(starts[s] for s, _ in windows)


def test_chunks_are_exact_substrings_with_overlap(tiny_embedder) -> None:
    text = " ".join(f"Sentence number {i} talks about the harbor of Tesk." for i in range(30))
    passages = list(_chunker(tiny_embedder).chunk([Document("d", "Harbor", text)]))
    assert len(passages) > 5
    assert [p.id for p in passages] == [f"d#{i}" for i in range(len(passages))]
    for p in passages:
        assert p.text == text[p.start:p.end] and p.text == p.text.strip()
        assert _n_tokens(tiny_embedder, p.text) <= 16
        assert p.title == "Harbor" and p.embed_text == f"Harbor\n{p.text}"
    for prev, nxt in pairwise(passages):
        assert prev.start < nxt.start < prev.end  # overlapping, moving forward
        assert _n_tokens(tiny_embedder, text[nxt.start:prev.end]) >= 4
    assert passages[0].start == 0 and passages[-1].end == len(text.rstrip())


def test_huge_document_becomes_many_chunks_nothing_lost(tiny_embedder) -> None:
    words = [f"w{i}" for i in range(5000)]
    passages = list(_chunker(tiny_embedder, 32, 0).chunk([Document("big", "", " ".join(words))]))
    assert len(passages) > 100
    assert " ".join(p.text for p in passages).split() == words  # no overlap: exact partition


def test_long_title_is_cut_but_text_kept(tiny_embedder) -> None:
    title = " ".join(["title"] * 200)
    chunker = _chunker(tiny_embedder, 32, 0)
    passage = next(iter(chunker.chunk([Document("t", title, "short body")])))
    assert passage.title == title and passage.text == "short body"
    assert _n_tokens(tiny_embedder, passage.embed_text) <= tiny_embedder.max_seq_length - 2


def test_invalid_sizes(tiny_embedder) -> None:
    with pytest.raises(ValueError, match="chunk_tokens=63 does not fit"):
        _chunker(tiny_embedder, 63, 0)
    with pytest.raises(ValueError, match="chunk_overlap"):
        _chunker(tiny_embedder, 16, 16)


def test_document_without_tokens(tiny_embedder) -> None:
    doc = Document("z", "", "\u200b\u200b", location="x.jsonl line 3")
    with pytest.raises(CorpusError, match="x.jsonl line 3"):
        list(_chunker(tiny_embedder).chunk([doc]))
    policy = BadInputPolicy(skip_bad=True)
    assert list(_chunker(tiny_embedder).chunk([doc], policy)) == [] and policy.skipped == 1
