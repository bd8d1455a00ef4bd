"""Built index: layout on disk, search, memory, passages, FAISS factories."""

from __future__ import annotations

import json
import logging
import math
from itertools import pairwise

import numpy as np
import pytest

from indexer import FORMAT_VERSION, Hit, Index
from rag.errors import IndexFormatError, InvalidQuestionError


def test_layout_and_manifest(tiny_index, tiny_corpus_records) -> None:
    files = {p.name for p in tiny_index.dir.iterdir()}
    assert files == {"manifest.json", "index.faiss", "passages.parquet", "memory.pooled.f16.npy",
                     "memory.segments-4.f16.npy"}
    manifest = json.loads((tiny_index.dir / "manifest.json").read_text())
    assert manifest["format"] == "squeezerag-index" and manifest["format_version"] == FORMAT_VERSION
    assert manifest["embedder"]["dim"] == 32 and len(manifest["embedder"]["probe_vector"]) == 32
    assert manifest["normalized"] is True and manifest["metric"] == "inner_product"
    assert manifest["factory"] == "Flat" and manifest["rows"] == len(tiny_index)
    assert manifest["corpus"]["fingerprint"].startswith("sha256:") and manifest["corpus"]["skipped"] == 0
    assert manifest["corpus"]["documents"] == len(tiny_corpus_records)
    assert manifest["memory"]["segments:4"]["shape"] == [len(tiny_index), 4, 32]
    assert tiny_index.memory_encodings == ["pooled", "segments:4"]


def test_search_finds_document_itself(tiny_index, tiny_corpus_records) -> None:
    queries = [r["text"] for r in tiny_corpus_records]
    results = tiny_index.search(queries, k=3)
    assert [hits[0].id for hits in results] == [f"{r['id']}#0" for r in tiny_corpus_records]
    top = results[0][0]
    assert isinstance(top, Hit) and top.title == tiny_corpus_records[0]["title"] and top.row >= 0
    assert top.metadata == {"topic": "fiction"}
    assert all(a.score >= b.score for hits in results for a, b in pairwise(hits))


def test_single_string_query_returns_list_of_one(tiny_index, tiny_corpus_records) -> None:
    results = tiny_index.search(tiny_corpus_records[4]["text"], k=2)
    assert len(results) == 1 and len(results[0]) == 2 and results[0][0].id == "doc04#0"


def test_search_embeddings_and_embed_queries(tiny_index) -> None:
    vectors = tiny_index.embed_queries(["a question"])
    assert vectors.shape == (1, 32) and vectors.dtype == np.float32
    assert tiny_index.search_embeddings(vectors[0], k=1)[0][0].row >= 0
    with pytest.raises(ValueError, match="dimension 7"):
        tiny_index.search_embeddings(np.zeros((1, 7), dtype=np.float32))


def test_a_flat_search_costs_one_inner_product_per_stored_vector(tiny_index) -> None:
    assert Index.load(tiny_index.dir).search_flops == tiny_index.search_flops == \
        2.0 * len(tiny_index) * tiny_index.manifest.embedder.dim > 0


def test_k_is_clamped_and_validated(tiny_index, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="indexer.index"):
        hits = tiny_index.search("Lake Vimmer", k=10_000)[0]
    assert len(hits) == len(tiny_index) and "larger than the index" in caplog.text
    for bad in (0, -1):
        with pytest.raises(ValueError, match="positive integer"):
            tiny_index.search("Lake Vimmer", k=bad)


@pytest.mark.parametrize("query", ["", "   ", ["ok", "\n"]])
def test_empty_query_is_refused(tiny_index, query) -> None:
    with pytest.raises(InvalidQuestionError):
        tiny_index.search(query)


def test_memory_shapes_and_fp16_storage(tiny_index) -> None:
    rows = [3, 0, 7]
    pooled = tiny_index.memory(rows)
    segments = tiny_index.memory(rows, encoding="segments:4")
    assert pooled.shape == (3, 1, 32) and pooled.dtype == np.float32
    assert segments.shape == (3, 4, 32) and np.isfinite(segments).all()
    stored = np.load(tiny_index.dir / "memory.pooled.f16.npy", mmap_mode="r")
    assert stored.dtype == np.float16 and stored.shape == (len(tiny_index), 1, 32)
    query = tiny_index.embed_queries([tiny_index.passages([3])[0].text])
    np.testing.assert_allclose(pooled[0, 0], stored[3, 0].astype(np.float32))
    assert abs(float(pooled[0, 0] @ query[0]) - tiny_index.search_embeddings(query, k=1)[0][0].score) < 2e-3


def test_unknown_memory_encoding_says_how_to_add_it(tiny_index) -> None:
    with pytest.raises(IndexFormatError, match=r"add_memory\('segments:8'\).*add-memory .* --encoding segments:8"):
        tiny_index.memory([0], encoding="segments:8")


def test_passages_and_row_bounds(tiny_index) -> None:
    hits = tiny_index.passages([1, 2])
    assert [h.row for h in hits] == [1, 2] and all(math.isnan(h.score) for h in hits)
    with pytest.raises(IndexError):
        tiny_index.passages([len(tiny_index)])


def test_lazy_embedder_on_load(tiny_index) -> None:
    loaded = Index.load(tiny_index.dir)
    assert loaded._embedder is None and len(loaded) == len(tiny_index)
    assert loaded.search("Gossamer falls", k=1)[0][0].row >= 0 and loaded._embedder is not None


@pytest.mark.parametrize("factory", ["HNSW32", "IVF4,Flat", "IVF2,PQ4x4"])
def test_other_factories_build_and_search(tmp_path, tiny_corpus_records, build_tiny_index, factory) -> None:
    index = build_tiny_index(tiny_corpus_records, tmp_path / "ix", factory=factory, memory_encodings=("pooled",),
                             nprobe=4 if factory.startswith("IVF") else None)
    results = index.search([r["text"] for r in tiny_corpus_records[:10]], k=3)
    assert all(len(hits) == 3 for hits in results)
    assert all(len({h.row for h in hits}) == 3 for hits in results)
    if "PQ" not in factory:  # PQ codes are lossy: on near-identical random-model vectors top-1 is noise
        assert [hits[0].id for hits in results] == [f"{r['id']}#0" for r in tiny_corpus_records[:10]]
    assert Index.load(index.dir).manifest.factory == factory
    assert index.search_flops is None  # an approximate search's cost is not a function of the rows alone


def test_bad_factory_fails_before_encoding(tmp_path, tiny_corpus_records, build_tiny_index) -> None:
    with pytest.raises(ValueError, match="Invalid FAISS factory"):
        build_tiny_index(tiny_corpus_records, tmp_path / "ix", factory="NotAnIndex")
    with pytest.raises(ValueError, match="at least nlist=64"):
        build_tiny_index(tiny_corpus_records, tmp_path / "ix", factory="IVF64,Flat")
    assert not (tmp_path / "ix").exists()


def test_huge_document_is_split_not_truncated(tmp_path, build_tiny_index, caplog) -> None:
    words = [f"w{i}" for i in range(3000)]
    with caplog.at_level(logging.WARNING):
        index = build_tiny_index([{"id": "big", "title": "A very long title " * 20, "text": " ".join(words)}],
                                 tmp_path / "ix", chunk_overlap=0, memory_encodings=("pooled",))
    assert len(index) > 100 and "truncated" not in caplog.text
    hits = index.passages(range(len(index)))
    assert [h.id for h in hits] == [f"big#{i}" for i in range(len(index))]
    assert " ".join(h.text for h in hits).split() == words


def test_memory_for_hits_mixes_stored_and_fresh(tiny_index) -> None:
    stored = tiny_index.passages([2, 5])
    gold = Hit(id="gold", title=stored[1].title, text=stored[1].text)  # same passage, not from the index
    memory = tiny_index.memory_for_hits([stored[0], gold], "segments:4")
    assert memory.shape == (2, 4, 32)
    np.testing.assert_allclose(memory[0], tiny_index.memory([2], "segments:4")[0])
    np.testing.assert_allclose(memory[1], tiny_index.memory([5], "segments:4")[0], atol=2e-3)
    assert tiny_index.memory_for_hits([], "pooled").shape == (0, 1, 32)
