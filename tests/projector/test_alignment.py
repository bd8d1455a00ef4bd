import numpy as np
import pytest
import torch
from tiny_projector import make_projector

from projector.alignment import (
    AlignConfig,
    align,
    alignment_loss,
    alignment_pairs,
    alignment_targets,
    nearest_token_agreement,
)
from projector.config import WORDPIECES

TEXT = "Paris is the capital of France."


def _llm_offsets(llm, text):
    enc = llm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return enc.input_ids, np.asarray(enc.offset_mapping)


def test_a_wordpiece_on_one_llm_token_targets_that_tokens_embedding(tiny_llm):
    ids, offsets = _llm_offsets(tiny_llm, TEXT)
    targets = alignment_targets(tiny_llm, TEXT, offsets)
    assert torch.allclose(targets, tiny_llm.embed(torch.tensor([ids]))[0].float(), atol=1e-6)


def test_a_wordpiece_across_tokens_gets_their_overlap_weighted_mean(tiny_llm):
    ids, offsets = _llm_offsets(tiny_llm, TEXT)
    first, second = offsets[0], offsets[1]
    span = np.array([[first[0], second[1]]])  # covers both tokens completely
    weights = torch.tensor([first[1] - first[0], second[1] - second[0]], dtype=torch.float32)
    embeddings = tiny_llm.embed(torch.tensor([ids[:2]]))[0].float()
    expected = (weights[:, None] * embeddings).sum(0) / weights.sum()
    assert torch.allclose(alignment_targets(tiny_llm, TEXT, span)[0], expected, atol=1e-6)


def test_a_span_outside_the_text_is_refused_with_the_cause(tiny_llm):
    with pytest.raises(ValueError, match="shares no character"):
        alignment_targets(tiny_llm, TEXT, np.array([[500, 510]]))


def test_pairs_have_one_row_per_wordpiece(tiny_llm, tiny_embedder):
    from rag.selection import token_states

    texts = [TEXT, "Berlin is the capital of Germany and has many rivers."]
    states, targets = alignment_pairs(tiny_llm, tiny_embedder, texts, progress=False)
    n = sum(len(t.tokens) for t in token_states(tiny_embedder, texts))
    assert states.shape == (n, tiny_embedder.token_dim) and targets.shape == (n, tiny_llm.hidden_size)


def test_alignment_lowers_the_loss_and_raises_agreement(tiny_llm):
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=16, tokens_per_vector=1, memory_encoding=WORDPIECES)
    vocab = tiny_llm.input_embeddings.weight.detach().float()
    # wordpiece "states" that determine the target token through a fixed random map
    ids = torch.randint(4, vocab.shape[0], (256,))
    states = torch.nn.functional.one_hot(ids % 16, 16).float() + 0.01 * torch.randn(256, 16)
    targets = vocab[ids % 16 + 4]
    with torch.no_grad():
        before = alignment_loss(projector, states, targets).item()
    history = align(projector, states, targets, AlignConfig(epochs=30, batch_size=64, lr=1e-2), progress=False)
    with torch.no_grad():
        after = alignment_loss(projector, states, targets).item()
    assert after < before / 2 and history[-1]["align_loss"] < history[0]["align_loss"]
    assert nearest_token_agreement(tiny_llm, projector, states, targets) > 0.9
