import dataclasses
import logging

import pytest
import torch
from tiny_llm import make_tiny_llm

from projector import Projector, ProjectorConfig
from projector.config import READER_TOKENS
from rag import prompt as P
from rag.copy_bias import CopyBias, context_token_ids, with_copy_bias
from rag.pipeline import RAG
from rag.selection import WindowConfig
from rag.streaming import stream_answer

QUESTIONS = ["Which river flows through the town?", "Who founded the company?"]


@pytest.fixture
def tiny_rag_factory(tiny_index):
    """RAGs over the tiny index with one tiny LLM and a window (``reader_tokens``) projector, ``RAG`` kwargs given."""
    llm = make_tiny_llm("qwen2")

    def make(**kwargs) -> RAG:
        rag = RAG(index=tiny_index, llm=llm, max_new_tokens=6, window=WindowConfig(width=4), **kwargs)
        embedder = rag.embedder
        torch.manual_seed(0)
        rag.set_projector(Projector(ProjectorConfig(
            d_embed=embedder.token_dim, d_model=llm.hidden_size, tokens_per_vector=1, hidden=16,
            memory_encoding=READER_TOKENS, max_pieces=4, embedder_id=embedder.id, llm_id=llm.id,
            target_norm=llm.embedding_norm)))
        return rag

    return make


def test_context_token_ids_hold_each_word_with_and_without_a_leading_space(tiny_llm):
    tokenizer = tiny_llm.tokenizer
    ids = context_token_ids(tokenizer, ["Paid by Elias Brandt in 1861."], always=[7])
    for piece in ["Paid by Elias Brandt in 1861.", "Elias", " Elias", "Brandt", " Brandt", "1861.", " 1861."]:
        assert set(tokenizer(piece, add_special_tokens=False)["input_ids"]) <= ids
    assert 7 in ids
    assert not set(tokenizer(" Varnholm", add_special_tokens=False)["input_ids"]) <= ids
    assert context_token_ids(tokenizer, [], always=[7]) == set()  # no context: nothing to lean towards


def test_copy_bias_adds_the_bias_to_each_rows_own_tokens_only():
    scores = torch.randn(2, 10)
    out = CopyBias([{1, 3}, {9}], 2.5)(torch.zeros(2, 1, dtype=torch.long), scores)
    expected = scores.clone()
    expected[0, [1, 3]] += 2.5
    expected[1, 9] += 2.5
    assert torch.equal(out, expected)
    with pytest.raises(ValueError, match="built for 2 rows"):
        CopyBias([{1, 3}, {9}], 2.5)(torch.zeros(3, 1, dtype=torch.long), torch.zeros(3, 10))


def test_training_logits_get_the_bias_answering_adds_at_every_position():
    """with_copy_bias (training, every answer position) adds what CopyBias adds at each generated token."""
    logits = torch.randn(2, 3, 10)
    ids = [{1, 3}, {9, 12}]  # 12: an id past the LM head's rows is dropped
    biased = with_copy_bias(logits, ids, 2.5)
    for position in range(3):
        step = CopyBias(ids, 2.5)(torch.zeros(2, 1, dtype=torch.long), logits[:, position])
        assert torch.equal(biased[:, position], step)
    assert with_copy_bias(logits, ids, 0.0) is logits


@pytest.mark.parametrize("mode", ["full_text", "selected_text", "compressed"])
def test_a_large_copy_bias_answers_from_the_context_tokens_only(tiny_rag_factory, mode):
    rag = tiny_rag_factory(copy_bias=1e4)
    hits = rag.retrieve(QUESTIONS, 2)
    built = rag.build_prompts(QUESTIONS, hits, mode)
    batch = P.assemble(rag.llm, built.prompts, built.soft)
    with rag.reading(mode):
        gen = rag.llm.generate_from_embeds(batch.inputs_embeds, batch.attention_mask, 6,
                                           logits_processors=rag.logits_processors(built, mode))
    for ids, texts in zip(gen.token_ids, built.context_texts):
        assert texts and set(ids) <= context_token_ids(rag.llm.tokenizer, texts, rag.llm.stop_token_ids)
    # RAG.answer and streaming apply the same bias
    assert [a.text for a in rag.answer(QUESTIONS, hits, mode)] == gen.texts
    assert ["".join(stream_answer(rag, q, hs, mode)) for q, hs in zip(QUESTIONS, hits)] == gen.texts


def test_the_copy_bias_changes_answers_and_nothing_without_it(tiny_rag_factory):
    plain, off, biased = tiny_rag_factory(), tiny_rag_factory(copy_bias=0.0), tiny_rag_factory(copy_bias=1e4)
    hits = plain.retrieve(QUESTIONS, 2)
    answers = {name: [a.text for a in rag.answer(QUESTIONS, hits, "full_text")]
               for name, rag in [("plain", plain), ("off", off), ("biased", biased)]}
    assert answers["off"] == answers["plain"] != answers["biased"]
    for bad in [-1.0, float("nan")]:
        with pytest.raises(ValueError, match="positive logit bonus"):
            tiny_rag_factory(copy_bias=bad)
    closed = biased.build_prompts(QUESTIONS, [[], []], "closed_book")
    assert biased.logits_processors(closed, "closed_book") == []  # no context, nothing to copy


def test_a_projector_trained_with_a_copy_bias_warns_when_answering_without_it(tiny_rag_factory, caplog):
    rag = tiny_rag_factory()
    trained = Projector(dataclasses.replace(rag.projector.config,
                                            training={"recipe": {"distill": {"copy_bias": 2.0}}}))
    assert trained.config.trained_copy_bias == 2.0 and rag.projector.config.trained_copy_bias == 0.0
    for bias, warned in [(0.0, True), (1.0, True), (2.0, False)]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="rag.pipeline"):
            RAG(index=rag.index, llm=rag.llm, projector=trained, copy_bias=bias, window=WindowConfig(width=4))
        assert ("copy_bias=2 (--copy-bias)" in caplog.text) is warned
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag.pipeline"):  # opting in to the bias with any projector: silent
        RAG(index=rag.index, llm=rag.llm, projector=rag.projector, copy_bias=2.0, window=WindowConfig(width=4))
    assert "trained to answer" not in caplog.text
