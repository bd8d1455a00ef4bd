import pytest
import torch
from tiny_llm import make_tiny_llm

from projector import Projector, ProjectorConfig
from rag.errors import InvalidQuestionError, ProjectorMismatchError
from rag.pipeline import RAG


def _projector(llm, index, encoding="segments:4", **over) -> Projector:
    d = index.manifest.memory[encoding].shape[-1]
    cfg = dict(d_embed=d, d_model=llm.hidden_size, tokens_per_vector=2, hidden=16, memory_encoding=encoding,
               embedder_id=index.manifest.embedder.id, llm_id=llm.id, target_norm=llm.embedding_norm)
    torch.manual_seed(0)
    return Projector(ProjectorConfig(**{**cfg, **over}))


@pytest.fixture
def tiny_rag(tiny_index):
    llm = make_tiny_llm("qwen2")
    return RAG(index=tiny_index, llm=llm, projector=_projector(llm, tiny_index), max_new_tokens=6)


@pytest.mark.parametrize("mode", ["closed_book", "full_text", "selected_text", "compressed"])
def test_ask_every_mode(tiny_rag, mode):
    ans = tiny_rag.ask("Which river flows through the town?", k=2, mode=mode)
    assert ans.mode == mode and isinstance(ans.text, str)
    assert len(ans.sources) == (0 if mode == "closed_book" else 2)
    expected_ctx = {"closed_book": 0, "compressed": 2 * 4 * 2}.get(mode)
    if expected_ctx is not None:
        assert ans.context_tokens == expected_ctx
    else:
        assert ans.context_tokens > 2 * 4 * 2
    t = ans.timings
    assert 0 < t.ttft_s <= t.total_s and t.prompt_s >= 0


def test_batch_answers_match_single_answers(tiny_rag):
    qs = ["Which river flows through the town?", "Who founded the company?", "What colour is the bird?"]
    hits = tiny_rag.retrieve(qs, 2)
    batched = tiny_rag.answer(qs, hits, "compressed", batch_size=3)
    single = [tiny_rag.answer([q], [h], "compressed")[0] for q, h in zip(qs, hits)]
    assert [a.text for a in batched] == [a.text for a in single]


def test_gold_passage_outside_index_is_embedded_like_stored_rows(tiny_rag):
    hit = tiny_rag.retrieve(["Who founded the company?"], 1)[0][0]
    stored = tiny_rag.memory_vectors([hit])
    fresh = tiny_rag.memory_vectors([type(hit)(id="gold", title=hit.title, text=hit.text, score=1.0, row=-1)])
    # The store keeps fp16: equal up to that rounding.
    assert abs(stored - fresh).max() < 1e-2


def test_empty_question_is_refused(tiny_rag):
    with pytest.raises(InvalidQuestionError):
        tiny_rag.ask("   ")
    with pytest.raises(InvalidQuestionError):
        tiny_rag.ask(["fine question", ""])


def test_mismatched_projector_is_refused(tiny_index):
    llm = make_tiny_llm("llama")
    with pytest.raises(ProjectorMismatchError, match="other-llm"):
        RAG(index=tiny_index, llm=llm, projector=_projector(llm, tiny_index, llm_id="other-llm"))
    with pytest.raises(ProjectorMismatchError, match="segments:8"):
        RAG(index=tiny_index, llm=llm, projector=_projector(llm, tiny_index, encoding="pooled",
                                                            memory_encoding="segments:8"))


def test_compressed_without_projector_says_how_to_get_one(tiny_index):
    rag = RAG(index=tiny_index, llm=make_tiny_llm("llama"))
    with pytest.raises(Exception, match="projector"):
        rag.ask("Who founded the company?", mode="compressed")


def test_selected_text_with_a_wide_window_is_full_text(tiny_rag):
    from rag.selection import WindowConfig

    qs = ["Which river flows through the town?", "Who founded the company?"]
    hits = tiny_rag.retrieve(qs, 2)
    full = tiny_rag.answer(qs, hits, "full_text")
    tiny_rag.window = WindowConfig(width=10_000)
    wide = tiny_rag.answer(qs, hits, "selected_text")
    assert [(a.text, a.context_tokens) for a in wide] == [(a.text, a.context_tokens) for a in full]
    tiny_rag.window = WindowConfig(width=4)
    narrow = tiny_rag.answer(qs, hits, "selected_text")
    assert all(n.context_tokens < f.context_tokens for n, f in zip(narrow, full))


def test_a_window_scorer_is_checked_used_and_recorded(tiny_rag, tmp_path):
    from rag.selection import WindowConfig
    from rag.window_scorer import WindowScorer, WindowScorerConfig, WindowScorerMismatchError

    embedder = tiny_rag.embedder
    torch.manual_seed(0)
    scorer = WindowScorer(WindowScorerConfig(d_embed=embedder.token_dim, hidden=8, rank=4, kernel=3,
                                             embedder_id=embedder.id))
    scorer.save_pretrained(tmp_path / "scorer")
    qs = ["Which river flows through the town?", "Who founded the company?"]
    hits = tiny_rag.retrieve(qs, 2)
    full = tiny_rag.answer(qs, hits, "full_text")
    tiny_rag.window = WindowConfig(width=4)
    tiny_rag.set_window_scorer(tmp_path / "scorer")
    scored = tiny_rag.answer(qs, hits, "selected_text")
    assert all(a.context_tokens < f.context_tokens for a, f in zip(scored, full))
    assert tiny_rag.describe()["window_scorer"]["fingerprint"] == scorer.fingerprint()
    # with a wide window the scorer changes nothing: every passage is read whole
    tiny_rag.window = WindowConfig(width=10_000)
    assert [a.text for a in tiny_rag.answer(qs, hits, "selected_text")] == [a.text for a in full]
    other = WindowScorer(WindowScorerConfig(d_embed=embedder.token_dim + 1, embedder_id="someone/else"))
    with pytest.raises(WindowScorerMismatchError, match="someone/else"):
        tiny_rag.set_window_scorer(other)


@pytest.mark.parametrize("prompt", [{}, {"reading_prompt": 3, "closing_prompt": 1, "answer_prompt": 1}])
def test_a_wordpieces_projector_reads_one_soft_token_per_window_wordpiece(tiny_rag, prompt):
    from projector.config import WORDPIECES
    from rag.selection import WindowConfig, selected_windows

    embedder = tiny_rag.embedder
    torch.manual_seed(0)
    projector = Projector(ProjectorConfig(
        d_embed=embedder.token_dim, d_model=tiny_rag.llm.hidden_size, tokens_per_vector=1, hidden=16,
        memory_encoding=WORDPIECES, embedder_id=embedder.id, llm_id=tiny_rag.llm.id,
        target_norm=tiny_rag.llm.embedding_norm, **prompt))
    tiny_rag.set_projector(projector)  # no stored memory needed: the index has no such encoding
    tiny_rag.window = WindowConfig(width=4)
    qs = ["Which river flows through the town?", "Who founded the company?"]
    hits = tiny_rag.retrieve(qs, 2)
    answers = tiny_rag.answer(qs, hits, "compressed")
    windows = selected_windows(embedder, qs, [[h.text for h in hs] for hs in hits], tiny_rag.window)
    n_prompt = prompt.get("reading_prompt", 0)  # a reading prompt counts, wherever its rows are written
    assert [a.context_tokens for a in answers] == [sum(len(w.states) for w in ws) + n_prompt for ws in windows]
    assert all(n_prompt < a.context_tokens <= 2 * 4 + n_prompt for a in answers)
    assert [a.text for a in tiny_rag.answer(qs[:1], hits[:1], "compressed")] == [answers[0].text]
    wrong = Projector(ProjectorConfig(d_embed=embedder.token_dim + 1, d_model=tiny_rag.llm.hidden_size,
                                      tokens_per_vector=1, memory_encoding=WORDPIECES))
    with pytest.raises(ProjectorMismatchError, match="embedding dim"):
        tiny_rag.set_projector(wrong)


def test_an_all_layers_projector_reads_every_hidden_state_of_the_same_windows(tiny_rag):
    from projector.config import WORDPIECES
    from rag.selection import WindowConfig, selected_windows
    from rag.token_states import ALL_LAYERS, projector_input_dim

    embedder, llm = tiny_rag.embedder, tiny_rag.llm
    dim = projector_input_dim(embedder, ALL_LAYERS)
    shape = dict(d_model=llm.hidden_size, tokens_per_vector=1, hidden=16, memory_encoding=WORDPIECES,
                 target_norm=llm.embedding_norm)
    with pytest.raises(ProjectorMismatchError, match=f"embedding dim: projector {embedder.token_dim} vs index {dim}"):
        tiny_rag.set_projector(Projector(ProjectorConfig(d_embed=embedder.token_dim, token_layers=ALL_LAYERS,
                                                         **shape)))
    torch.manual_seed(0)
    tiny_rag.set_projector(Projector(ProjectorConfig(d_embed=dim, token_layers=ALL_LAYERS, **shape)))
    tiny_rag.window = WindowConfig(width=4)
    qs = ["Which river flows through the town?", "Who founded the company?"]
    hits = tiny_rag.retrieve(qs, 2)
    answers = tiny_rag.answer(qs, hits, "compressed")
    texts = [[h.text for h in hs] for hs in hits]
    last = selected_windows(embedder, qs, texts, tiny_rag.window)
    every = selected_windows(embedder, qs, texts, tiny_rag.window, layers=ALL_LAYERS)
    # the same windows are selected; only what the projector reads of each wordpiece grows
    assert [[w.text for w in ws] for ws in every] == [[w.text for w in ws] for ws in last]
    assert all(w.states.shape[1] == dim for ws in every for w in ws)
    assert [a.context_tokens for a in answers] == [sum(len(w.states) for w in ws) for ws in every]


def test_a_reader_tokens_projector_reads_one_soft_token_per_llm_token_of_the_windows(tiny_rag):
    from projector.config import READER_TOKENS
    from rag.selection import WINDOW_JOINER, WindowConfig, select_windows

    embedder, llm = tiny_rag.embedder, tiny_rag.llm
    torch.manual_seed(0)
    tiny_rag.set_projector(Projector(ProjectorConfig(
        d_embed=embedder.token_dim, d_model=llm.hidden_size, tokens_per_vector=1, hidden=16,
        memory_encoding=READER_TOKENS, max_pieces=4, embedder_id=embedder.id, llm_id=llm.id,
        target_norm=llm.embedding_norm)))
    tiny_rag.window = WindowConfig(width=4)
    qs = ["Which river flows through the town?", "Who founded the company?"]
    hits = tiny_rag.retrieve(qs, 2)
    answers = tiny_rag.answer(qs, hits, "compressed")
    texts = select_windows(embedder, qs, [[h.text for h in hs] for hs in hits], tiny_rag.window)
    # as many soft tokens as the LLM reads in the window text ("a … b" is two windows of one passage)
    expected = [sum(len(llm.tokenizer(w, add_special_tokens=False).input_ids)
                    for t in ts for w in t.split(WINDOW_JOINER) if w) for ts in texts]
    assert [a.context_tokens for a in answers] == expected


def test_a_reader_adapter_reads_the_compressed_mode_only_streamed_or_not(tiny_rag):
    from projector.config import READER_TOKENS
    from projector.reader_adapter import reader_adapter_spec
    from rag.selection import WindowConfig
    from rag.streaming import stream_answer

    embedder, llm = tiny_rag.embedder, tiny_rag.llm
    tiny_rag.window = WindowConfig(width=4)
    qs = ["Which river flows through the town?", "Who founded the company?"]
    hits = tiny_rag.retrieve(qs, 2)

    def answers(adapter_std: float | None) -> dict[str, list[str]]:
        torch.manual_seed(0)
        spec = reader_adapter_spec(llm.model, rank=2) if adapter_std is not None else {}
        projector = Projector(ProjectorConfig(
            d_embed=embedder.token_dim, d_model=llm.hidden_size, tokens_per_vector=1, hidden=16,
            memory_encoding=READER_TOKENS, max_pieces=4, embedder_id=embedder.id, llm_id=llm.id,
            target_norm=llm.embedding_norm, reader_adapter=spec))
        for delta in (projector.reader_adapter.deltas.values() if adapter_std else []):
            torch.nn.init.normal_(delta.up.weight, std=adapter_std)
        tiny_rag.set_projector(projector)
        out = {mode: [a.text for a in tiny_rag.answer(qs, hits, mode)] for mode in ("full_text", "compressed")}
        out["streamed"] = ["".join(stream_answer(tiny_rag, q, hs, "compressed")) for q, hs in zip(qs, hits)]
        return out

    plain, untrained, trained = answers(None), answers(0.0), answers(2.0)
    assert untrained == plain  # a new adapter starts at zero: the projector reads as it did without one
    assert trained["full_text"] == plain["full_text"]  # other modes read with the LLM as loaded
    assert trained["compressed"] != plain["compressed"]
    assert trained["streamed"] == trained["compressed"]
