import pytest
import torch

from rag.token_states import projector_input_dim, token_states


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


def test_long_passages_are_read_up_to_the_embedder_limit(tiny_embedder):
    text = " ".join(["river"] * 500)
    (states,) = token_states(tiny_embedder, [text], max_length=10_000)
    assert states.states.shape[0] == tiny_embedder.max_seq_length - 2  # [CLS] and [SEP] left out
