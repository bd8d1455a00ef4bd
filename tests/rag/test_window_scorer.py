import pytest
import torch

from rag.selection import WindowConfig, select_windows, window_spans
from rag.token_states import TokenStates, token_states
from rag.window_scorer import WindowScorer, WindowScorerConfig, WindowScorerMismatchError, pad_states


def _scorer(d_embed: int = 16, **shape) -> WindowScorer:
    torch.manual_seed(0)
    return WindowScorer(WindowScorerConfig(d_embed=d_embed, hidden=8, rank=4, kernel=5, embedder_id="emb", **shape)).eval()


def _states(n: int, d: int = 16) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, d), dim=-1)


def test_logits_cover_real_wordpieces_and_ignore_padding():
    scorer = _scorer()
    passages, questions = [_states(12), _states(5)], [_states(4), _states(7)]
    p, p_mask = pad_states(passages)
    q, q_mask = pad_states(questions)
    with torch.no_grad():
        batched = scorer(p, p_mask, q, q_mask)
        alone = scorer(passages[1][None], torch.ones(1, 5, dtype=torch.bool), questions[1][None],
                       torch.ones(1, 7, dtype=torch.bool))
    assert batched.shape == (2, 12)
    assert torch.isinf(batched[1, 5:]).all() and torch.isfinite(batched[1, :5]).all()
    # a passage scores the same alone as right-padded in a batch
    assert torch.allclose(batched[1, :5], alone[0], atol=1e-6)
    probs = scorer.answer_probabilities([TokenStates(q, None, []) for q in questions],
                                        [TokenStates(p, None, []) for p in passages])
    assert [x.shape[0] for x in probs] == [12, 5] and all(torch.isclose(x.sum(), torch.tensor(1.0)) for x in probs)


def test_save_load_round_trip_is_bit_exact(tmp_path):
    scorer = _scorer()
    scorer.save_pretrained(tmp_path / "s")
    again = WindowScorer.from_pretrained(tmp_path / "s")
    assert again.config == scorer.config and again.fingerprint() == scorer.fingerprint()
    for k, v in scorer.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])
    scorer.save_pretrained(tmp_path / "half", dtype=torch.float16)  # the shipped form loads too
    assert WindowScorer.from_pretrained(tmp_path / "half").config == scorer.config


def test_missing_folder_and_mismatch_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        WindowScorer.from_pretrained(tmp_path)
    scorer = _scorer()
    scorer.check_compatible("emb", 16)
    with pytest.raises(WindowScorerMismatchError, match="scorer 'emb' vs in use 'other'.*scorer 16 vs embedder 32"):
        scorer.check_compatible("other", 32)


class _PeakScorer:
    """Stands in for a trained scorer: (nearly) all answer probability on one wordpiece of each passage."""

    def __init__(self, peaks: list[int]) -> None:
        self.peaks = peaks

    def answer_logits(self, questions, passages):
        return [20.0 * torch.nn.functional.one_hot(torch.tensor(k), p.states.shape[0]).float()
                for k, p in zip(self.peaks, passages)]


def test_windows_hold_the_scorer_peak_without_a_shift():
    passages = [[TokenStates(_states(20), None, []), TokenStates(_states(6), None, [])],
                [TokenStates(_states(30), None, [])]]
    questions = [TokenStates(_states(3), None, [])] * 2
    spans = window_spans(questions, passages, WindowConfig(width=8, shift=0.5), _PeakScorer([17, 2, 0]))
    assert [len(s) for s in spans] == [2, 1]
    [(a, b)], [(c, d)], [(e, f)] = spans[0][0], spans[0][1], spans[1][0]
    assert a <= 17 < b == a + 8 <= 20 and (c, d) == (0, 6) and e == 0 and f == 8


def test_global_allocation_without_a_scorer_is_refused():
    passages = [[TokenStates(_states(20), None, [])]]
    with pytest.raises(ValueError, match="scorer"):
        window_spans([TokenStates(_states(3), None, [])], passages, WindowConfig(allocation="global"))
    with pytest.raises(ValueError, match="allocation"):
        WindowConfig(allocation="everywhere")


@pytest.mark.parametrize("windows", [1, 2, 5])
def test_global_allocation_spends_the_window_budget_it_is_given_whatever_k(windows):
    passages = [[TokenStates(_states(30), None, []), TokenStates(_states(30), None, [])]]
    question = [TokenStates(_states(3), None, [])]
    spans = window_spans(question, passages, WindowConfig(width=4, windows=windows), _PeakScorer([9, 20]))[0]
    assert sum(b - a for per_passage in spans for a, b in per_passage) == 4 * windows
    peaks_covered = sum(any(a <= peak < b for a, b in per_passage) for peak, per_passage in zip([9, 20], spans))
    assert peaks_covered == min(windows, 2)  # the answer mass is spent first


def test_a_window_budget_without_global_allocation_is_refused():
    passages = [[TokenStates(_states(20), None, [])]]
    with pytest.raises(ValueError, match="global"):
        window_spans([TokenStates(_states(3), None, [])], passages, WindowConfig(windows=2), None)
    with pytest.raises(ValueError, match="windows"):
        WindowConfig(windows=0)


@pytest.mark.parametrize("allocation", ["per_passage", "global"])
def test_select_windows_with_a_scorer_cuts_substrings(tiny_embedder, tiny_corpus_records, allocation):
    texts = [r["text"] for r in tiny_corpus_records[:4]]
    scorer = _scorer(d_embed=tiny_embedder.token_dim)
    config = WindowConfig(width=5, allocation=allocation)
    windows = select_windows(tiny_embedder, ["How tall is the mountain?"], [texts], config, scorer)
    assert len(windows[0]) == 4
    total = 0
    for window, text in zip(windows[0], texts):
        pieces = [w for w in window.split(" … ") if w] if window else []
        assert all(piece in text for piece in pieces)
        total += sum(len(tiny_embedder.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in pieces)
        if allocation == "per_passage":
            assert len(pieces) == 1
    assert total <= 4 * 5  # the same budget either way: one window of 5 wordpieces per passage


@pytest.mark.integration
def test_shipped_scorer_finds_the_answer_in_a_narrow_window(torch_threads, harbour_passage):
    from indexer import load_embedder
    from rag.demo_index import default_window_scorer_dir

    passage, questions = harbour_passage
    with torch_threads():
        embedder = load_embedder()
        scorer = WindowScorer.from_pretrained(default_window_scorer_dir())
        scorer.check_compatible(embedder.id, embedder.token_dim)
        windows = select_windows(embedder, questions, [[passage], [passage]], WindowConfig(width=8), scorer)
        states = token_states(embedder, [passage])
    assert states[0].states.shape[0] > 60
    assert "Elias Brandt" in windows[0][0] and "1861" in windows[1][0]


def test_auto_allocation_is_global_with_a_scorer_and_per_passage_without(tiny_embedder, tiny_corpus_records):
    texts = [r["text"] for r in tiny_corpus_records[:3]]
    scorer = _scorer(d_embed=tiny_embedder.token_dim)

    def windows(allocation, with_scorer):
        return select_windows(tiny_embedder, ["How tall is the mountain?"], [texts],
                              WindowConfig(width=4, allocation=allocation), scorer if with_scorer else None)

    assert windows("auto", True) == windows("global", True)
    assert windows("auto", False) == windows("per_passage", False)
