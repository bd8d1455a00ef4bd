"""The FLOPs estimate: its formulas, which parts each mode pays for, and a real benchmark's rows adding them up."""

from __future__ import annotations

from typing import Any

import pytest

from eval.flops import (
    CostModel,
    ModelShape,
    ProjectorShape,
    ScorerShape,
    embedder_shape,
    encoder_flops,
    llm_flops,
    scorer_flops,
    scorer_shape,
)
from eval.records import QARecord

LLM = ModelShape(n_params=100, n_layers=2, d_model=4)
EMBEDDER = ModelShape(n_params=10, n_layers=3, d_model=2)
PROJECTOR = ProjectorShape(mlp_params=7, tokens_per_row=1, prompt_tokens=4, adapter_params=5)
SCORER = ScorerShape(d_embed=2, rank=1, hidden=3, kernel=3)


def test_encoder_flops_formula() -> None:
    # every token of a bidirectional encoder attends to all T positions: 2·N·T + 2·L·d·T² per sequence
    assert encoder_flops(EMBEDDER, [3, 5]) == (2 * 10 * 3 + 2 * 3 * 2 * 9) + (2 * 10 * 5 + 2 * 3 * 2 * 25)
    assert encoder_flops(EMBEDDER, []) == 0.0


def test_each_mode_pays_for_what_runs_at_answer_time() -> None:
    costs = CostModel(llm=LLM, embedder=EMBEDDER, projector=PROJECTOR)
    llm = llm_flops(LLM, prompt_tokens=20, new_tokens=3)
    assert costs.answer_flops("closed_book", 20, 3, 0) == {"llm": llm}
    assert costs.answer_flops("selected_text", 20, 3, 9, [4, 6]) == {"llm": llm,
                                                                    "embedder": encoder_flops(EMBEDDER, [4, 6])}
    # 14 context tokens = 4 prompt rows (copied) + 10 soft tokens from 10 MLP rows; the adapter runs on all
    # 22 positions the LLM processes (20 prompt + 3 new - 1)
    window = costs.answer_flops("compressed", 20, 3, 14, [4, 6])
    assert window == {"llm": llm, "embedder": encoder_flops(EMBEDDER, [4, 6]), "projector": 2 * 7 * 10,
                      "reader_adapter": 2 * 5 * 22}
    # retrieval embeds the question once, in every mode that retrieves; the scorer reads question and passages
    scored = CostModel(llm=LLM, embedder=EMBEDDER, scorer=SCORER)
    assert scored.answer_flops("full_text", 20, 3, 9, query_tokens=5) == {"llm": llm,
                                                                         "retrieval": encoder_flops(EMBEDDER, [5])}
    assert scored.answer_flops("selected_text", 20, 3, 9, [4, 6, 7], query_tokens=5) == {
        "llm": llm, "retrieval": encoder_flops(EMBEDDER, [5]), "embedder": encoder_flops(EMBEDDER, [4, 6, 7]),
        "window_scorer": scorer_flops(SCORER, 4, [6, 7])}
    # an exhaustive index's search is paid once per retrieving answer, with the query's embedding
    searched = CostModel(llm=LLM, embedder=EMBEDDER, search=64.0)
    assert searched.answer_flops("full_text", 20, 3, 9, query_tokens=5)["search"] == 64.0
    assert "search" not in searched.answer_flops("closed_book", 20, 3, 0)
    # the scorer sees wordpieces only: the embedder's special tokens come off every sequence it reads
    special = CostModel(llm=LLM, embedder=EMBEDDER, scorer=SCORER, special_tokens=2)
    assert special.answer_flops("selected_text", 20, 3, 9, [4, 6, 7])["window_scorer"] == \
        scorer_flops(SCORER, 2, [4, 5])
    stored = CostModel(llm=LLM, projector=ProjectorShape(mlp_params=7, tokens_per_row=2, prompt_tokens=0,
                                                         adapter_params=0))
    assert stored.answer_flops("compressed", 20, 3, 8) == {"llm": llm, "projector": 2 * 7 * 4}


@pytest.mark.parametrize("passages", [[9], [9, 17]])
def test_scorer_flops_are_what_torch_counts_of_its_forward(passages: list[int]) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from rag.window_scorer import WindowScorer, WindowScorerConfig

    scorer = WindowScorer(WindowScorerConfig(d_embed=12, rank=4, hidden=8, kernel=5)).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        for n in passages:  # one question (7 wordpieces) paired with each passage, as the pipeline pairs them
            scorer(torch.randn(1, n, 12), torch.ones(1, n, dtype=torch.bool), torch.randn(1, 7, 12),
                   torch.ones(1, 7, dtype=torch.bool))
    assert scorer_flops(scorer_shape(scorer), 7, passages) == counter.get_total_flops() > 0


def test_embedder_shape_leaves_out_the_lookup_tables(tiny_embedder: Any) -> None:
    from rag.token_states import embedder_transformer

    model = embedder_transformer(tiny_embedder)
    shape = embedder_shape(tiny_embedder)
    matmuls = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("embeddings."))
    assert shape.n_params == matmuls > 0
    assert (shape.n_layers, shape.d_model) == (model.config.num_hidden_layers, model.config.hidden_size)


@pytest.mark.parametrize("prompt", ["", "query: "])
def test_query_lengths_are_what_encode_queries_reads(tiny_embedder: Any, monkeypatch: Any, prompt: str) -> None:
    read = []  # the tokens the transformer module is handed, whatever sentence-transformers release tokenised them
    transformer = tiny_embedder.model[0]
    forward = transformer.forward
    monkeypatch.setattr(transformer, "forward", lambda features, *a, **kw: read.extend(
        features["attention_mask"].sum(1).tolist()) or forward(features, *a, **kw))
    monkeypatch.setattr(tiny_embedder.model, "prompts", {"query": prompt} if prompt else {})
    texts = ["a short one", "river " * 300]  # the second is cut at the model's max_seq_length
    tiny_embedder.encode_queries(texts)
    lengths = tiny_embedder.query_lengths(texts)
    assert sorted(lengths) == sorted(read) and lengths[1] == tiny_embedder.max_seq_length  # (encode sorts by length)


def test_embedder_lengths_are_what_token_states_reads(tiny_embedder: Any) -> None:
    from rag.token_states import embedder_lengths, token_states

    texts = ["a short one", "river " * 50]  # the second is cut at max_length
    special = tiny_embedder.tokenizer.num_special_tokens_to_add()
    for max_length in (8, 256):
        read = token_states(tiny_embedder, texts, max_length)
        assert embedder_lengths(tiny_embedder, texts, max_length) == [len(s.tokens) + special for s in read]


@pytest.mark.slow
def test_a_benchmark_adds_up_the_parts_of_each_answer(tiny_index: Any, tiny_records: list[QARecord]) -> None:
    from tiny_llm import make_tiny_llm

    from eval.runner import run_benchmark
    from projector import Projector, ProjectorConfig
    from projector.config import READER_TOKENS
    from projector.reader_adapter import reader_adapter_spec
    from rag import RAG
    from rag.selection import WindowConfig
    from rag.token_states import embedder_lengths, token_states
    from rag.window_scorer import WindowScorer, WindowScorerConfig

    llm, embedder = make_tiny_llm("llama"), tiny_index.embedder
    projector = Projector(ProjectorConfig(
        d_embed=embedder.token_dim, d_model=llm.hidden_size, tokens_per_vector=1, hidden=16,
        memory_encoding=READER_TOKENS, max_pieces=4, embedder_id=embedder.id, llm_id=llm.id,
        target_norm=llm.embedding_norm, reading_prompt=3, reader_adapter=reader_adapter_spec(llm.model, rank=2)))
    scorer = WindowScorer(WindowScorerConfig(d_embed=embedder.token_dim, rank=2, hidden=4, kernel=3,
                                             embedder_id=embedder.id))
    rag = RAG(index=tiny_index, llm=llm, projector=projector, max_new_tokens=4, window=WindowConfig(width=4),
              window_scorer=scorer)
    result = run_benchmark(rag, tiny_records, modes=("closed_book", "selected_text", "compressed"), k=2,
                           limit=3, progress=False, n_bootstrap=20, warmup=False)
    for row in result.predictions:
        assert row["flops"] == pytest.approx(sum(row["flops_parts"].values()))
    assert all(set(r["flops_parts"]) == {"llm"} for r in result.predictions_for("closed_book"))
    selected, compressed = result.predictions_for("selected_text"), result.predictions_for("compressed")
    shape = embedder_shape(embedder)
    for text_row, soft_row in zip(selected, compressed, strict=True):
        # both modes find their windows with the same embedder pass over the question and its passages
        (hits,) = rag.retrieve([text_row["question"]], 2)
        assert [h.id for h in hits] == text_row["retrieved"]["ids"]
        lengths = embedder_lengths(embedder, [text_row["question"]] + [h.text for h in hits])
        assert text_row["flops_parts"]["embedder"] == soft_row["flops_parts"]["embedder"] == \
            encoder_flops(shape, lengths)
        # the scorer reads the wordpieces token_states hands it, special tokens dropped
        pieces = [len(s.tokens) for s in token_states(embedder, [text_row["question"]] + [h.text for h in hits])]
        assert text_row["flops_parts"]["window_scorer"] == soft_row["flops_parts"]["window_scorer"] == \
            scorer_flops(scorer_shape(scorer), pieces[0], pieces[1:])
        # and both embedded the question once to retrieve, as closed book did not
        query = encoder_flops(shape, embedder.query_lengths([text_row["question"]]))
        assert text_row["flops_parts"]["retrieval"] == soft_row["flops_parts"]["retrieval"] == query
        assert soft_row["flops_parts"]["projector"] > 0 and soft_row["flops_parts"]["reader_adapter"] > 0
        # the tiny index is Flat: every stored vector's inner product with the query
        assert text_row["flops_parts"]["search"] == soft_row["flops_parts"]["search"] == \
            2.0 * len(tiny_index) * tiny_index.manifest.embedder.dim
    parts = result.metrics["modes"]["compressed"]["gflops_by_part"]
    assert set(parts) == {"llm", "retrieval", "search", "embedder", "window_scorer", "projector", "reader_adapter"}
