"""LangChain integration and token streaming, on tiny random models (no downloads)."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import textwrap
import threading
from typing import Any

import numpy as np
import pytest
import torch
from langchain_core.documents import Document
from langchain_core.runnables import RunnablePassthrough
from langchain_tests.integration_tests import RetrieversIntegrationTests
from tiny_llm import make_tiny_llm

from indexer import Hit
from projector import Projector, ProjectorConfig
from rag.errors import InvalidQuestionError, SqueezeRagError
from rag.langchain import (
    SqueezeEmbeddings,
    SqueezeGenerator,
    SqueezeRetriever,
    as_chain,
    document_to_hit,
    hits_from_documents,
)
from rag.pipeline import RAG
from rag.streaming import stream_answer

MODES = ("closed_book", "full_text", "compressed")
QUESTIONS = ["Which bridge has seven arches?", "What is Grindle cheese aged in?", "Who composed Silver Tide?"]


def _projector(llm: Any, index: Any, encoding: str = "segments:4") -> Projector:
    d = index.manifest.memory[encoding].shape[-1]
    torch.manual_seed(0)
    return Projector(ProjectorConfig(d_embed=d, d_model=llm.hidden_size, tokens_per_vector=2, hidden=16,
                                     memory_encoding=encoding, embedder_id=index.manifest.embedder.id,
                                     llm_id=llm.id, target_norm=llm.embedding_norm))


@pytest.fixture(scope="module")
def tiny_rag(tiny_index: Any) -> RAG:
    llm = make_tiny_llm("llama")
    return RAG(index=tiny_index, llm=llm, projector=_projector(llm, tiny_index), max_new_tokens=8)


# --- retriever ---------------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:The test <Function:pytest.PytestWarning")
class TestSqueezeRetrieverStandard(RetrieversIntegrationTests):
    """langchain-tests' standard retriever suite (its async test needs the asyncio mark)."""

    @pytest.fixture(autouse=True)
    def _index(self, tiny_index: Any) -> None:
        self.index = tiny_index

    @property
    def retriever_constructor(self) -> type[SqueezeRetriever]:
        return SqueezeRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": self.index}

    @property
    def retriever_query_example(self) -> str:
        return "Which bridge has seven arches?"


def test_k_as_field_and_as_invoke_keyword(tiny_index: Any) -> None:
    retriever = SqueezeRetriever(index=tiny_index, k=2)
    assert len(retriever.invoke(QUESTIONS[0])) == 2
    assert len(retriever.invoke(QUESTIONS[0], k=5)) == 5
    assert len(asyncio.run(retriever.ainvoke(QUESTIONS[0], k=3))) == 3
    assert SqueezeRetriever(index=tiny_index).k == 4
    with pytest.raises(ValueError):
        SqueezeRetriever(index=tiny_index, k=0)


def test_documents_carry_passage_ids_and_metadata(tiny_index: Any) -> None:
    docs = SqueezeRetriever(index=tiny_index, k=3).invoke(QUESTIONS[1])
    hits = tiny_index.search([QUESTIONS[1]], k=3)[0]
    assert [d.id for d in docs] == [h.id for h in hits]
    for doc, hit in zip(docs, hits):
        assert doc.page_content == hit.text
        assert doc.metadata["title"] == hit.title and doc.metadata["row"] == hit.row
        assert math.isclose(doc.metadata["score"], hit.score, rel_tol=1e-6)
        assert doc.metadata["doc_id"] == hit.id.split("#")[0]
        assert doc.metadata["topic"] == "fiction"  # the source record's other fields come along
    assert document_to_hit(docs[0]) == hits[0]


def test_empty_query_is_refused(tiny_index: Any) -> None:
    with pytest.raises(InvalidQuestionError):
        SqueezeRetriever(index=tiny_index).invoke("  ")


# --- streaming ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_stream_concatenation_equals_answer(tiny_rag: RAG, mode: str) -> None:
    for question in QUESTIONS:
        hits = None if mode == "closed_book" else tiny_rag.retrieve([question], 2)[0]
        pieces = list(stream_answer(tiny_rag, question, hits, mode, max_new_tokens=12))
        expected = tiny_rag.answer([question], None if hits is None else [hits], mode, max_new_tokens=12)[0]
        assert "".join(pieces) == expected.text
        assert all(pieces)


def test_stream_yields_several_pieces_when_the_answer_has_several_tokens(tiny_rag: RAG) -> None:
    hits = tiny_rag.retrieve([QUESTIONS[0]], 2)[0]
    pieces = list(stream_answer(tiny_rag, QUESTIONS[0], hits, "full_text", max_new_tokens=12))
    answer = tiny_rag.answer([QUESTIONS[0]], [hits], "full_text", max_new_tokens=12)[0]
    if len(answer.text.split()) > 1:
        assert len(pieces) > 1


def test_closing_a_stream_early_stops_its_thread(tiny_rag: RAG) -> None:
    stream = stream_answer(tiny_rag, QUESTIONS[0], [], "closed_book", max_new_tokens=64)
    assert next(stream)
    stream.close()
    assert not any(t.name == "squeezerag-stream" and t.is_alive() for t in threading.enumerate())


def test_stream_errors_raise_before_generation(tiny_rag: RAG) -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        next(stream_answer(tiny_rag, QUESTIONS[0], [], "summarise"))
    with pytest.raises(InvalidQuestionError):
        next(stream_answer(tiny_rag, " ", [], "full_text"))
    with pytest.raises(ValueError, match="needs passages"):
        next(stream_answer(tiny_rag, QUESTIONS[0], None, "full_text"))


# --- chain -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_chain_invoke_batch_stream(tiny_rag: RAG, mode: str) -> None:
    chain = as_chain(tiny_rag, mode=mode, k=2)
    single = [chain.invoke(q) for q in QUESTIONS]
    assert all(isinstance(a, str) for a in single)
    assert chain.batch(QUESTIONS) == single
    assert ["".join(chain.stream(q)) for q in QUESTIONS] == single
    hits = None if mode == "closed_book" else tiny_rag.retrieve(QUESTIONS, 2)
    assert single == [a.text for a in tiny_rag.answer(QUESTIONS, hits, mode)]


def test_chain_batch_generates_in_one_batch(tiny_rag: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = tiny_rag.answer

    def spy(questions: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(questions))
        return original(questions, *args, **kwargs)

    monkeypatch.setattr(tiny_rag, "answer", spy)
    assert len(as_chain(tiny_rag, "compressed", k=2).batch(QUESTIONS)) == len(QUESTIONS)
    assert calls == [len(QUESTIONS)]


def test_hand_built_lcel_chain_and_async(tiny_rag: RAG, tiny_index: Any) -> None:
    retriever = SqueezeRetriever(index=tiny_index, k=2)
    chain = {"docs": retriever, "question": RunnablePassthrough()} | SqueezeGenerator(tiny_rag, "full_text")
    expected = chain.invoke(QUESTIONS[2])

    async def run() -> tuple[str, str, list[str]]:
        pieces = [p async for p in chain.astream(QUESTIONS[2])]
        return await chain.ainvoke(QUESTIONS[2]), "".join(pieces), await chain.abatch(QUESTIONS[:2])

    answer, streamed, batched = asyncio.run(run())
    assert answer == streamed == expected
    assert batched == chain.batch(QUESTIONS[:2])


def test_chain_with_sources(tiny_rag: RAG) -> None:
    chain = as_chain(tiny_rag, mode="full_text", k=2, with_sources=True)
    out = chain.invoke(QUESTIONS[0])
    assert set(out) == {"question", "docs", "answer"}
    assert len(out["docs"]) == 2 and out["answer"] == as_chain(tiny_rag, "full_text", k=2).invoke(QUESTIONS[0])
    assert "".join(c["answer"] for c in chain.stream(QUESTIONS[0]) if "answer" in c) == out["answer"]


def test_compressed_reads_stored_rows_not_the_embedder(tiny_rag: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = as_chain(tiny_rag, mode="compressed", k=2)
    expected = chain.invoke(QUESTIONS[0])

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compressed mode re-embedded a stored passage")

    monkeypatch.setattr(tiny_rag.embedder, "encode_with_memory", refuse)
    assert chain.invoke(QUESTIONS[0]) == expected
    assert chain.batch(QUESTIONS[:2])[0] == expected
    assert "".join(chain.stream(QUESTIONS[0])) == expected


def test_documents_without_rows_are_embedded_on_the_fly(tiny_rag: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = SqueezeRetriever(index=tiny_rag.index, k=1).invoke(QUESTIONS[0])[0]
    calls: list[int] = []
    original = tiny_rag.embedder.encode_with_memory

    def counting(texts: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(texts))
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(tiny_rag.embedder, "encode_with_memory", counting)
    loose = Document(id="mine", page_content=doc.page_content, metadata={"title": doc.metadata["title"]})
    answer = SqueezeGenerator(tiny_rag, "compressed").invoke({"question": QUESTIONS[0], "docs": [loose]})
    assert isinstance(answer, str) and calls == [1]


def test_rows_of_another_passage_are_not_trusted(tiny_index: Any, caplog: pytest.LogCaptureFixture) -> None:
    doc = SqueezeRetriever(index=tiny_index, k=1).invoke(QUESTIONS[0])[0]
    forged = Document(id="elsewhere#0", page_content="Some other text.", metadata={**doc.metadata})
    far = Document(id=doc.id, page_content=doc.page_content, metadata={**doc.metadata, "row": 10_000})
    hits = hits_from_documents([doc, forged, far, Hit("h", "t", "x", 0.5, -1)], tiny_index)
    assert [h.row for h in hits] == [doc.metadata["row"], -1, -1, -1]
    assert "holds another passage" in caplog.text
    assert [h.row for h in hits_from_documents([doc], None)] == [-1]


def test_generator_input_errors(tiny_rag: RAG, tiny_index: Any) -> None:
    gen = SqueezeGenerator(tiny_rag, "full_text")
    with pytest.raises(TypeError, match="RunnablePassthrough"):
        gen.invoke({"query": "no question key"})
    with pytest.raises(ValueError, match="no 'docs'"):
        gen.invoke({"question": QUESTIONS[0]})
    out = gen.batch([{"question": QUESTIONS[0], "docs": []}, {"question": "  ", "docs": []}], return_exceptions=True)
    assert isinstance(out[0], str) and isinstance(out[1], InvalidQuestionError)
    with pytest.raises(ValueError, match="unknown mode"):
        SqueezeGenerator(tiny_rag, "summarise")
    no_projector = RAG(index=tiny_index, llm=tiny_rag.llm)
    with pytest.raises(SqueezeRagError, match="projector"):
        as_chain(no_projector, mode="compressed")
    with pytest.raises(SqueezeRagError, match="index"):
        as_chain(RAG(llm=tiny_rag.llm, embedder=tiny_index.embedder), mode="full_text")
    assert isinstance(as_chain(RAG(llm=tiny_rag.llm, embedder=tiny_index.embedder), "closed_book").invoke("Hi?"), str)


# --- embeddings ----------------------------------------------------------------------------------------
def test_embeddings_adapter_matches_the_index(tiny_index: Any, tiny_embedder: Any) -> None:
    emb = SqueezeEmbeddings(tiny_index)
    np.testing.assert_allclose(emb.embed_query(QUESTIONS[0]), tiny_index.embed_queries([QUESTIONS[0]])[0],
                               rtol=1e-5, atol=1e-6)
    docs = emb.embed_documents(["Lake Vimmer freezes.", "Puffins live on Brask."])
    assert len(docs) == 2 and len(docs[0]) == tiny_embedder.dim
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(SqueezeEmbeddings(tiny_embedder).embed_documents(["Lake Vimmer freezes."])[0],
                               docs[0], rtol=1e-5, atol=1e-6)
    assert emb.embed_documents([]) == []
    assert len(asyncio.run(emb.aembed_query("Puffins?"))) == tiny_embedder.dim


# --- optional dependency -------------------------------------------------------------------------------
def test_without_langchain_core_rag_imports_and_the_integration_says_how_to_fix() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["langchain_core"] = None  # as if not installed
        import rag, rag.pipeline, rag.streaming
        try:
            import rag.langchain
        except ImportError as exc:
            from rag.errors import MissingPackageError
            assert isinstance(exc, MissingPackageError), type(exc)
            assert "pip install langchain-core" in str(exc), str(exc)
            print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
