"""The real bundled embedder (all-MiniLM-L6-v2) over 50 demo-corpus records."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory, torch_threads):
    from indexer import BuildConfig, build_index
    from rag.defaults import load_demo_corpus

    try:
        records = load_demo_corpus(limit=50)
    except ImportError as err:  # MissingPackageError: the [defaults] extra is not installed
        pytest.skip(str(err))
    config = BuildConfig(memory_encodings=("pooled", "segments:8"))
    with torch_threads():
        return build_index(records, tmp_path_factory.mktemp("demo") / "index", config=config, progress=False)


@pytest.mark.parametrize("question,title", [
    ("Who wrote the novel about Huckleberry Finn?", "Adventures of Huckleberry Finn"),
    ("Which Stanley Kubrick film is a 1968 science fiction epic?", "2001: A Space Odyssey"),
    ("Buddhist temple complex in Cambodia", "Angkor Wat"),
    ("Which palace and fortress is in Granada, Spain?", "Alhambra"),
])
def test_real_embedder_retrieves_known_title(demo_index, question, title) -> None:
    hits = demo_index.search(question, k=3)[0]
    assert hits[0].title == title, [h.title for h in hits]
    assert 0.3 < hits[0].score <= 1.0001


def test_manifest_records_default_embedder(demo_index) -> None:
    from indexer import Index

    manifest = demo_index.manifest
    assert manifest.embedder.id == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest.embedder.dim == 384 and manifest.embedder.max_seq_length == 256
    assert demo_index.memory([0, 1], "segments:8").shape == (2, 8, 384)
    reloaded = Index.load(demo_index.dir)  # resolves the canonical id back to the bundled folder
    assert reloaded.search("Oscars film awards", k=1)[0][0].title == "Academy Awards"
