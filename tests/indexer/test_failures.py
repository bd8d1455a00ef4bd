"""Refusals: broken index dirs, other format versions, other embedders, overwrite, interrupted builds."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from indexer import Index, build_index, load_embedder
from indexer.embedder import Embedder
from rag.errors import CorpusError, EmbedderMismatchError, IndexFormatError


@pytest.fixture()
def index_copy(tiny_index, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_index.dir, target)
    return target


@pytest.mark.parametrize("name", ["index.faiss", "passages.parquet", "memory.segments-4.f16.npy", "manifest.json"])
def test_missing_file_is_named(index_copy, name) -> None:
    (index_copy / name).unlink()
    with pytest.raises(IndexFormatError, match=rf"{name}.*rebuild"):
        Index.load(index_copy)


def test_other_format_version_names_both(index_copy) -> None:
    path = index_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=r"format version 99.*reads format version 1"):
        Index.load(index_copy)


def test_missing_directory(tmp_path) -> None:
    with pytest.raises(IndexFormatError, match="does not exist"):
        Index.load(tmp_path / "nowhere")


@pytest.mark.parametrize("hidden,seed", [(32, 1), (16, 0)])
def test_mismatched_embedder_is_refused_naming_both(tiny_index, tmp_path, make_embedder, hidden, seed) -> None:
    other_dir = make_embedder(tmp_path / "other", hidden=hidden, seed=seed)
    with pytest.raises(EmbedderMismatchError) as err:
        Index.load(tiny_index.dir, embedder=str(other_dir))
    assert str(other_dir) in str(err.value) and tiny_index.manifest.embedder.id in str(err.value)


def test_same_embedder_by_path_is_accepted(tiny_index, tiny_embedder_dir) -> None:
    assert len(Index.load(tiny_index.dir, embedder=str(tiny_embedder_dir))) == len(tiny_index)


def test_empty_corpus(tmp_path, build_tiny_index) -> None:
    with pytest.raises(CorpusError, match="no documents"):
        build_tiny_index([], tmp_path / "ix")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(CorpusError, match="no documents"):
        build_tiny_index(tmp_path / "empty.jsonl", tmp_path / "ix")
    assert not (tmp_path / "ix").exists()


def test_skip_bad_is_counted_in_manifest(tmp_path, build_tiny_index, caplog) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "Alpha text."}\nnot json\n{"id": "b", "text": ""}\n'
                    '{"id": "c", "text": "Gamma text."}\n')
    with pytest.raises(CorpusError, match=r"c\.jsonl line 2"):
        build_tiny_index(path, tmp_path / "ix")
    with caplog.at_level(logging.WARNING):
        index = build_tiny_index(path, tmp_path / "ix", skip_bad=True)
    assert index.manifest.corpus.skipped == 2 and len(index) == 2 and "skipped 2 bad record" in caplog.text


def test_refuses_overwrite_unless_asked(tmp_path, tiny_corpus_records, build_tiny_index) -> None:
    first = build_tiny_index(tiny_corpus_records[:3], tmp_path / "ix")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        build_tiny_index(tiny_corpus_records, tmp_path / "ix")
    second = build_tiny_index(tiny_corpus_records, tmp_path / "ix", overwrite=True)
    assert len(first) == 3 and len(second) == len(tiny_corpus_records)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a squeezerag index"):
        build_tiny_index(tiny_corpus_records, tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "mine.txt").read_text() == "precious"


def test_interrupted_build_leaves_previous_index(tmp_path, tiny_corpus_records, build_tiny_index,
                                                  monkeypatch) -> None:
    good = build_tiny_index(tiny_corpus_records[:4], tmp_path / "ix")
    calls = {"n": 0}
    original = Embedder.forward_batch

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise KeyboardInterrupt("simulated interrupt mid-build")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Embedder, "forward_batch", failing)
    with pytest.raises(KeyboardInterrupt):
        build_tiny_index(tiny_corpus_records * 1, tmp_path / "ix", overwrite=True, batch_size=4)
    with pytest.raises(KeyboardInterrupt):
        good.add([{"id": f"n{i}", "text": f"new text {i}"} for i in range(10)], progress=False)
    monkeypatch.undo()
    reloaded = Index.load(tmp_path / "ix")
    assert len(reloaded) == 4 and reloaded.search(tiny_corpus_records[2]["text"], k=1)[0][0].id == "doc02#0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]  # no staging folders left behind


def test_load_embedder_passthrough_and_encode(tiny_embedder) -> None:
    assert load_embedder(tiny_embedder) is tiny_embedder
    vectors = tiny_embedder.encode(["one", "two"])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_build_with_embedder_path(tmp_path, tiny_corpus_records, tiny_embedder_dir, tiny_config) -> None:
    index = build_index(tiny_corpus_records[:3], tmp_path / "ix", embedder=str(tiny_embedder_dir),
                        config=tiny_config(), progress=False)
    assert index.manifest.embedder.id == str(tiny_embedder_dir.resolve())


@pytest.mark.parametrize("name", ["index.faiss", "passages.parquet", "memory.pooled.f16.npy"])
def test_corrupt_file_is_named(index_copy, name) -> None:
    path = index_copy / name
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexFormatError, match=rf"{name}.*rebuild"):
        Index.load(index_copy).memory([0], "pooled")
