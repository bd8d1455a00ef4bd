import numpy as np
import pytest
import torch

from rag.selection import WindowConfig, cut_window, maxsim_scores, select_windows, window_span, window_start
from rag.token_states import TokenStates


def test_window_start_takes_the_best_sum_then_shifts():
    scores = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert window_start(scores, width=3, shift=0.0) in (1, 2)
    assert window_start(scores, width=2, shift=0.0) == 2
    assert window_start(scores, width=2, shift=0.5) == 3
    # the shift never runs past the end, and a short passage starts at 0
    assert window_start(torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]), width=2, shift=0.5) == 3
    assert window_start(torch.ones(3), width=5, shift=0.5) == 0


def _one_hot_passage(words: list[str]) -> tuple[str, TokenStates]:
    text = " ".join(words)
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    spans = np.stack([starts, starts + np.array([len(w) for w in words])], axis=1)
    vocab = sorted(set(words))
    states = torch.nn.functional.one_hot(torch.tensor([vocab.index(w) for w in words]), len(vocab)).float()
    return text, TokenStates(states, spans, words)


def test_cut_window_covers_the_words_the_question_matches():
    text, passage = _one_hot_passage("a b c d river e f g h i j k".split())
    scores = maxsim_scores(passage, passage.states[[4]])  # the question is about "river"

    def cut(config: WindowConfig) -> str:
        return cut_window(text, passage, window_span(scores, config))

    assert "river" in cut(WindowConfig(width=3, shift=0.0))
    # shifted forward: the window now starts at the matched word, covering what follows it
    assert cut(WindowConfig(width=3, shift=2 / 3)) == "river e f"
    assert cut(WindowConfig(width=50)) == text


def test_windows_are_short_substrings_of_their_passages(tiny_embedder, tiny_corpus_records):
    texts = [r["text"] for r in tiny_corpus_records[:5]]
    questions = ["How tall is the mountain?", "When was the harbor built?"]
    config = WindowConfig(width=6)
    windows = select_windows(tiny_embedder, questions, [texts[:3], texts[3:]], config)
    assert [len(w) for w in windows] == [3, 2]
    for window, text in zip(windows[0] + windows[1], texts):
        assert window and window in text
        n = len(tiny_embedder.tokenizer(window, add_special_tokens=False)["input_ids"])
        assert n <= config.width


def test_bad_window_arguments_are_refused(tiny_embedder):
    with pytest.raises(ValueError, match="width"):
        WindowConfig(width=0)
    with pytest.raises(ValueError, match="passage lists"):
        select_windows(tiny_embedder, ["one question"], [], WindowConfig())


@pytest.mark.integration
def test_real_embedder_window_holds_the_answer(torch_threads, harbour_passage):
    from indexer import load_embedder

    passage, questions = harbour_passage
    with torch_threads():
        windows = select_windows(load_embedder(), questions, [[passage], [passage]], WindowConfig(width=14))
    # each window sits on the sentence the question paraphrases
    assert "rebuilding was paid for" in windows[0][0] and "storm destroyed the piers in 1861" in windows[1][0]
    assert len(windows[0][0]) < len(passage) / 3
