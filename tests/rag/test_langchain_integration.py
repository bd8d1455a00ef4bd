"""The LangChain chain on the real bundled defaults: MiniLM embedder, SmolLM2-135M, 200 demo documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

QUESTION = "Who wrote the novel about Huckleberry Finn?"
MAX_NEW_TOKENS = 16
N_RECORDS = 200
# One torch thread: on a busy 2-core machine two OpenMP threads per process spin against other processes and
# generation gets ~15x slower (measured: 20 s vs 1.4 s for one 16-token answer); idle, one thread costs little.
THREADS = 1


@pytest.fixture(autouse=True)
def _all_threads(torch_threads: Callable[..., Any]) -> Iterator[None]:
    with torch_threads(THREADS):
        yield


@pytest.fixture(scope="module")
def real_rag(tmp_path_factory: pytest.TempPathFactory, torch_threads: Callable[..., Any]) -> Any:
    from indexer import BuildConfig, build_index
    from rag.defaults import load_demo_corpus, resolve_llm
    from rag.demo_index import default_projector_dir, default_window_scorer_dir
    from rag.pipeline import RAG

    try:
        records = load_demo_corpus(limit=N_RECORDS)
        resolve_llm(None)
    except ImportError as err:  # MissingPackageError: the [defaults] extra is not installed
        pytest.skip(str(err))
    out: Path = tmp_path_factory.mktemp("langchain-demo") / "index"
    with torch_threads(THREADS):
        index = build_index(records, out, config=BuildConfig(memory_encodings=("pooled", "segments:8")),
                            progress=False)
        return RAG(index=index, projector=default_projector_dir(), window_scorer=default_window_scorer_dir(),
                   max_new_tokens=MAX_NEW_TOKENS)


def test_retriever_finds_the_passage(real_rag: Any) -> None:
    from rag.langchain import SqueezeRetriever

    docs = SqueezeRetriever(index=real_rag.index, k=3).invoke(QUESTION)
    assert docs[0].metadata["title"] == "Adventures of Huckleberry Finn"
    assert docs[0].id.startswith(docs[0].metadata["doc_id"]) and docs[0].metadata["row"] >= 0


@pytest.mark.parametrize("mode", ["closed_book", "full_text", "compressed"])
def test_chain_answers_in_every_mode(real_rag: Any, mode: str) -> None:
    from rag.langchain import as_chain

    if mode == "compressed" and real_rag.projector is None:
        pytest.skip("no shipped projector in projector/weights/default/ (rag.demo_index.default_projector_dir() "
                    "is None): train one with `squeezerag train`")
    answer = as_chain(real_rag, mode=mode, k=3).invoke(QUESTION)
    assert isinstance(answer, str) and answer.strip()
    if mode == "full_text":
        assert "Twain" in answer


def test_full_text_chain_streams_and_batches(real_rag: Any) -> None:
    from rag.langchain import as_chain

    chain = as_chain(real_rag, mode="full_text", k=3)
    pieces = list(chain.stream(QUESTION))
    assert len(pieces) > 1 and "Twain" in "".join(pieces)
    answers = chain.batch([QUESTION, "Which palace and fortress is in Granada, Spain?"])
    assert len(answers) == 2 and all(a.strip() for a in answers)
