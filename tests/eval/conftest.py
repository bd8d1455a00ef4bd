"""Fixtures of the eval tests: a tiny *real* RAG and records about the tiny corpus."""

from __future__ import annotations

from typing import Any

import pytest

from eval.records import QARecord


@pytest.fixture(scope="session")
def tiny_rag(tiny_index: Any) -> Any:
    """RAG over the shared tiny index with a random tiny LLM and a random projector (segments:4, 2 tokens)."""
    from tiny_llm import make_tiny_llm

    from projector import Projector, ProjectorConfig
    from rag import RAG

    llm = make_tiny_llm("llama")
    embedder = tiny_index.embedder
    config = ProjectorConfig(d_embed=embedder.dim, d_model=llm.hidden_size, tokens_per_vector=2, hidden=32,
                             memory_encoding="segments:4", embedder_id=embedder.id, llm_id=llm.id,
                             target_norm=llm.embedding_norm)
    return RAG(index=tiny_index, llm=llm, projector=Projector(config), max_new_tokens=4)


@pytest.fixture(scope="session")
def tiny_records(tiny_corpus_records: list[dict]) -> list[QARecord]:
    """Six questions whose gold contexts are the first six tiny-corpus documents."""
    return [QARecord(id=f"q{i}", question=f"What is said about {doc['title']}?",
                     answers=[doc["text"].split()[-1].strip(".")], context=doc["text"], title=doc["title"])
            for i, doc in enumerate(tiny_corpus_records[:6])]
