import numpy as np
import pytest
import torch

from rag.selection import (
    TokenStates,
    WindowConfig,
    cut_window,
    maxsim_scores,
    projector_input_dim,
    select_windows,
    token_states,
    window_span,
    window_start,
)


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


def test_token_spans_point_at_their_wordpieces(tiny_embedder):
    text = "The harbor of Tesk was built in 1742."
    (states,) = token_states(tiny_embedder, [text])
    assert states.states.shape[0] == len(states.tokens) == len(states.spans)
    assert torch.allclose(states.states.norm(dim=-1), torch.ones(len(states.tokens)))
    for token, (start, end) in zip(states.tokens, states.spans):
        assert text[start:end].lower() == token.removeprefix("##").lower()


def test_all_layer_states_extend_the_last_layer_states(tiny_embedder):
    texts = ["The harbor of Tesk was built in 1742.", "Tesk"]
    last, every = token_states(tiny_embedder, texts), token_states(tiny_embedder, texts, layers="all")
    n_states = tiny_embedder.model[0].auto_model.config.num_hidden_layers + 1  # embeddings output first
    for a, b in zip(last, every):
        assert a.tokens == b.tokens and a.layer_states is None and torch.equal(a.projector_input, a.states)
        assert torch.allclose(a.states, b.states, atol=1e-6)  # selection reads the same states either way
        assert b.layer_states.shape == (len(b.tokens), n_states * tiny_embedder.token_dim)
        assert torch.allclose(b.projector_input.norm(dim=-1), torch.ones(len(b.tokens)), atol=1e-5)
        # the last block is the last layer, scaled so that the concatenation has unit norm
        assert torch.allclose(b.layer_states[:, -tiny_embedder.token_dim:] * n_states ** 0.5, b.states, atol=1e-5)
    assert projector_input_dim(tiny_embedder, "all") == n_states * projector_input_dim(tiny_embedder, "last")
    with pytest.raises(ValueError, match="token_layers must be one of"):
        token_states(tiny_embedder, texts, layers="first")


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


def test_long_passages_are_read_up_to_the_embedder_limit(tiny_embedder):
    text = " ".join(["river"] * 500)
    (states,) = token_states(tiny_embedder, [text], max_length=10_000)
    assert states.states.shape[0] == tiny_embedder.max_seq_length - 2  # [CLS] and [SEP] left out
