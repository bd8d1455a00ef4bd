import numpy as np
import pytest
import torch
from tiny_projector import make_projector

from projector.alignment import (
    AlignConfig,
    AlignmentPairs,
    TokenLayout,
    align,
    alignment_loss,
    alignment_pairs,
    alignment_targets,
    nearest_token_agreement,
    nearest_token_hits,
    unit_vocabulary,
)
from projector.config import READER_TOKENS, WORDPIECES

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


TEXTS = [TEXT, "Berlin is the capital of Germany and has many rivers."]


def test_pairs_have_one_row_per_wordpiece(tiny_llm, tiny_embedder):
    from rag.token_states import token_states

    pairs = alignment_pairs(tiny_llm, tiny_embedder, TEXTS, progress=False)
    n = sum(len(t.tokens) for t in token_states(tiny_embedder, TEXTS))
    assert pairs.states.shape == (n, tiny_embedder.token_dim) and pairs.targets.shape == (n, tiny_llm.hidden_size)
    assert pairs.pieces is None and pairs.states.dtype == torch.float16  # stored small, cast back by the projector


def test_reader_token_pairs_target_each_llm_tokens_own_embedding(tiny_llm, tiny_embedder):
    pairs = alignment_pairs(tiny_llm, tiny_embedder, TEXTS, TokenLayout(max_pieces=4), progress=False)
    ids = [i for t in TEXTS for i in tiny_llm.tokenizer(t, add_special_tokens=False).input_ids]
    assert len(pairs) == len(ids) and pairs.pieces.max() <= 3 and pairs.token_ids.tolist() == ids
    assert torch.equal(pairs.targets, tiny_llm.input_embeddings.weight.detach().float()[torch.tensor(ids)])


@pytest.mark.parametrize("read_case,split", [(False, False), (True, True)])
def test_a_projectors_layout_cuts_alignment_rows_as_it_reads_a_window_at_query_time(tiny_llm, tiny_embedder,
                                                                                      read_case, split):
    from projector.model import window_reader_inputs
    from rag.selection import make_window
    from rag.token_states import token_states

    config = make_projector(tiny_llm, d_embed=tiny_embedder.token_dim, tokens_per_vector=1, max_pieces=4,
                            memory_encoding=READER_TOKENS, read_case=read_case, split_at_wordpieces=split).config
    pairs = alignment_pairs(tiny_llm, tiny_embedder, TEXTS, TokenLayout.of(config), progress=False)
    states = token_states(tiny_embedder, TEXTS)
    windows = [make_window(0, t, s, (0, len(s.tokens))) for t, s in zip(TEXTS, states)]
    read = window_reader_inputs(config, windows, tiny_llm.tokenizer)
    assert torch.equal(pairs.token_ids, torch.cat([x.token_ids for x in read]))
    assert torch.equal(pairs.pieces, torch.cat([x.pieces for x in read]))
    assert torch.equal(pairs.states, torch.cat([x.states for x in read]).half())


@pytest.mark.parametrize("encoding,extra", [(WORDPIECES, {}), (READER_TOKENS, {"max_pieces": 2})])
def test_alignment_lowers_the_loss_and_raises_agreement(tiny_llm, encoding, extra):
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=16, tokens_per_vector=1, memory_encoding=encoding, **extra)
    vocab = tiny_llm.input_embeddings.weight.detach().float()
    # wordpiece "states" that determine the target token through a fixed random map (and the piece, if any)
    ids = torch.randint(4, vocab.shape[0], (256,))
    states = torch.nn.functional.one_hot(ids % 16, 16).float() + 0.01 * torch.randn(256, 16)
    pieces = (ids // 16) % 2 if extra else None
    pairs = AlignmentPairs(states, vocab[ids % 16 + 4 + (0 if pieces is None else 16 * pieces)], pieces)
    with torch.no_grad():
        before = alignment_loss(projector, pairs)["cosine"].item()
    history = align(projector, pairs, AlignConfig(epochs=30, batch_size=64, lr=1e-2), progress=False)
    with torch.no_grad():
        after = alignment_loss(projector, pairs)["cosine"].item()
    assert after < before / 2 and history[-1]["align_loss"] < history[0]["align_loss"]
    assert nearest_token_agreement(tiny_llm, projector, pairs) > 0.9


def test_training_on_rows_equals_training_on_a_copy_of_them(tiny_llm):
    vocab = tiny_llm.input_embeddings.weight.detach().float()
    ids = torch.randint(4, vocab.shape[0], (96,), generator=torch.Generator().manual_seed(1))
    pairs = AlignmentPairs(torch.randn(96, 16, generator=torch.Generator().manual_seed(2)).half(), vocab[ids])
    rows = torch.arange(96)[torch.arange(96) % 3 != 0]
    config = AlignConfig(epochs=2, batch_size=16, lr=1e-2)
    projectors = []
    for kwargs, data in (({"rows": rows}, pairs), ({}, pairs.rows(rows))):
        torch.manual_seed(0)
        projectors.append(make_projector(tiny_llm, d_embed=16, tokens_per_vector=1))
        align(projectors[-1], data, config, progress=False, **kwargs)
    for a, b in zip(projectors[0].parameters(), projectors[1].parameters()):
        assert torch.equal(a, b)


def test_rows_know_their_text_and_cat_keeps_every_row_in_order(tiny_llm, tiny_embedder):
    texts = [TEXTS[0], "", TEXTS[1]]  # an empty text gives no row but keeps the numbering
    pairs = alignment_pairs(tiny_llm, tiny_embedder, texts, TokenLayout(max_pieces=4), batch_size=2, progress=False)
    alone = [alignment_pairs(tiny_llm, tiny_embedder, [t], TokenLayout(max_pieces=4), progress=False) for t in TEXTS]
    assert pairs.text_ids.tolist() == [0] * len(alone[0]) + [2] * len(alone[1])
    assert torch.allclose(pairs.states.float(), torch.cat([a.states for a in alone]).float(), atol=2e-3)
    parts = [pairs.rows(torch.arange(3)), pairs.rows(torch.arange(3, len(pairs)))]
    joined = AlignmentPairs.cat(parts)
    assert not parts  # consumed, so their memory can go
    for field in ("states", "targets", "pieces", "text_ids"):
        assert torch.equal(getattr(joined, field), getattr(pairs, field))


def test_nearest_token_hits_do_not_depend_on_the_chunk_size(tiny_llm):
    vocab = tiny_llm.input_embeddings.weight.detach().float()
    ids = torch.randint(4, vocab.shape[0], (50,), generator=torch.Generator().manual_seed(3))
    pairs = AlignmentPairs(torch.nn.functional.one_hot(ids % 16, 16).half(), vocab[ids])
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=16, tokens_per_vector=1)
    whole, chunked = nearest_token_hits(tiny_llm, projector, pairs), nearest_token_hits(tiny_llm, projector, pairs, 7)
    assert all(torch.equal(a, b) for a, b in zip(whole, chunked))


def _ambiguous_word(d_model: int):
    """A vocabulary where token 2 is the mean direction of tokens 0 and 1, and pairs in which one state stands for
    token 0 (60%) or token 1 (40%), another for token 3: a rare word whose state does not settle which token it is."""
    eye = torch.eye(d_model)
    vocabulary = torch.stack([eye[0], eye[1], (eye[0] + eye[1]) / 2 ** 0.5, eye[2]])
    ids = torch.tensor([0] * 6 + [1] * 4 + [3] * 10)
    states = torch.nn.functional.one_hot((ids == 3).long(), 16).float()
    return vocabulary, AlignmentPairs(states, vocabulary[ids], token_ids=ids)


@pytest.mark.parametrize("weight,expected", [(0.0, 2), (1.0, 0)])
def test_the_vocabulary_loss_lands_an_ambiguous_state_on_its_likeliest_token(tiny_llm, weight, expected):
    # cosine regression alone ends at the mean of the candidates, nearest a token that is never the target
    vocabulary, pairs = _ambiguous_word(tiny_llm.hidden_size)
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=16, tokens_per_vector=1)
    align(projector, pairs, AlignConfig(epochs=150, batch_size=20, lr=1e-2, vocabulary_weight=weight),
          progress=False, vocabulary=vocabulary)
    with torch.no_grad():
        nearest = (torch.nn.functional.normalize(projector(pairs.states[:1, None])[0, 0], dim=-1)
                   @ vocabulary.T).argmax()
    assert nearest == expected


def test_the_vocabulary_loss_needs_token_ids_and_says_so(tiny_llm):
    vocabulary, pairs = _ambiguous_word(tiny_llm.hidden_size)
    projector = make_projector(tiny_llm, d_embed=16, tokens_per_vector=1)
    with pytest.raises(ValueError, match="reader_tokens"):
        align(projector, AlignmentPairs(pairs.states, pairs.targets), AlignConfig(vocabulary_weight=1.0),
              progress=False, vocabulary=vocabulary)


def test_the_unit_vocabulary_is_the_llms_embedding_table_normalised(tiny_llm):
    vocabulary = unit_vocabulary(tiny_llm, torch.device("cpu"))
    weight = tiny_llm.input_embeddings.weight.detach().float()
    assert vocabulary.shape == weight.shape
    assert torch.allclose(vocabulary.float(), torch.nn.functional.normalize(weight, dim=-1), atol=1e-2)
