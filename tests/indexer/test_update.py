"""Index.add and Index.add_memory: appended rows are searchable, existing rows unchanged, swaps are atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexer import Index
from rag.errors import CorpusError

NEW_DOCS = [
    {"id": "new1", "title": "Crimson Ferry", "text": "The crimson ferry crosses the strait of Hollis twice a day."},
    {"id": "new2", "title": "Saltmoor Bell", "text": "The Saltmoor bell was cast from melted anchors in 1650."},
]


@pytest.mark.parametrize("factory", ["Flat", "IVF4,Flat"])
def test_add_then_search_finds_new_docs(tmp_path, tiny_corpus_records, build_tiny_index, factory) -> None:
    index = build_tiny_index(tiny_corpus_records, tmp_path / "ix", factory=factory, nprobe=4)
    before_rows = len(index)
    before_memory = index.memory(range(before_rows), "segments:4")
    before_passages = [(h.id, h.title, h.text, h.row) for h in index.passages(range(before_rows))]
    added = index.add(NEW_DOCS, progress=False)
    assert added >= 2 and len(index) == before_rows + added
    assert index.manifest.corpus.documents == len(tiny_corpus_records) + 2
    for doc in NEW_DOCS:
        assert index.search(doc["text"], k=1)[0][0].id.startswith(f"{doc['id']}#")
    np.testing.assert_array_equal(index.memory(range(before_rows), "segments:4"), before_memory)
    assert [(h.id, h.title, h.text, h.row) for h in index.passages(range(before_rows))] == before_passages
    assert index.memory([before_rows], "pooled").shape == (1, 1, 32)
    reloaded = Index.load(index.dir)
    assert len(reloaded) == before_rows + added and reloaded.manifest.factory == factory
    assert reloaded.search(tiny_corpus_records[5]["text"], k=1)[0][0].id == "doc05#0"


def test_add_refuses_existing_ids_and_empty_input(tmp_path, tiny_corpus_records, build_tiny_index) -> None:
    index = build_tiny_index(tiny_corpus_records[:5], tmp_path / "ix")
    fingerprint = index.manifest.corpus.fingerprint
    with pytest.raises(CorpusError, match="'doc01' is already in the index"):
        index.add([{"id": "doc01", "text": "A different text."}], progress=False)
    with pytest.raises(CorpusError, match="Nothing to add"):
        index.add([], progress=False)
    assert Index.load(index.dir).manifest.corpus.fingerprint == fingerprint
    rows = len(index)
    assert index.add([{"id": "doc01", "text": "x"}, *NEW_DOCS], progress=False, skip_bad=True) == len(index) - rows
    assert index.manifest.corpus.documents == 7 and index.manifest.corpus.skipped == 1 and index.manifest.corpus.fingerprint != fingerprint


def test_add_memory(tmp_path, tiny_corpus_records, build_tiny_index) -> None:
    index = build_tiny_index(tiny_corpus_records, tmp_path / "ix", memory_encodings=("pooled",))
    index.add_memory("segments:2", progress=False)
    assert index.memory_encodings == ["pooled", "segments:2"]
    segments = index.memory([0, 1], "segments:2")
    assert segments.shape == (2, 2, 32) and np.isfinite(segments).all()
    manifest = json.loads((index.dir / "manifest.json").read_text())
    assert manifest["memory"]["segments:2"]["file"] == "memory.segments-2.f16.npy"
    # Same vectors as computing the encoding at build time.
    direct = build_tiny_index(tiny_corpus_records, tmp_path / "ix2", memory_encodings=("segments:2",))
    np.testing.assert_allclose(segments, direct.memory([0, 1], "segments:2"), atol=2e-3)
    index.add_memory("segments:2", progress=False)  # already there: no-op
    assert Index.load(index.dir).memory_encodings == ["pooled", "segments:2"]
