import re

import numpy as np
import pytest
import torch

from projector.reader_tokens import (
    ALL_CAPITALS,
    CAPITALISED,
    LOWER,
    case_class,
    index_within_wordpiece,
    reader_token_inputs,
    reader_tokens,
)

TEXT = "In 1947 the army moved north."


def _offsets(tokenizer, text):
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return enc.input_ids, np.asarray(enc.offset_mapping)


def test_wordpieces_cut_like_the_reader_give_their_own_states_at_piece_zero(tiny_llm):
    ids, offsets = _offsets(tiny_llm.tokenizer, TEXT)
    states = torch.randn(len(ids), 8)
    inputs = reader_token_inputs(tiny_llm.tokenizer, TEXT, states, offsets, max_pieces=4)
    assert inputs.token_ids.tolist() == ids
    torch.testing.assert_close(inputs.states, states)
    assert inputs.pieces.tolist() == [0] * len(ids)


def test_one_wordpiece_over_many_reader_tokens_numbers_them_up_to_the_cap(tiny_llm):
    ids, _ = _offsets(tiny_llm.tokenizer, TEXT)
    state = torch.randn(1, 8)
    inputs = reader_token_inputs(tiny_llm.tokenizer, TEXT, state, np.array([[0, len(TEXT)]]), max_pieces=3)
    assert inputs.pieces.tolist() == [min(i, 2) for i in range(len(ids))]
    torch.testing.assert_close(inputs.states, state.expand(len(ids), -1))


def test_a_lone_space_token_joins_the_word_it_precedes(tiny_llm):
    words = np.array([m.span() for m in re.finditer(r"\S+", TEXT)])
    _, offsets = _offsets(tiny_llm.tokenizer, TEXT)
    states = torch.eye(len(words))
    inputs = reader_token_inputs(tiny_llm.tokenizer, TEXT, states, words, max_pieces=8)
    spaces = [(t, start) for t, (start, end) in enumerate(offsets) if TEXT[start:end] == " "]
    assert spaces  # the tiny tokenizer reads some spaces alone
    for t, start in spaces:
        following = int(np.flatnonzero(words[:, 0] == start + 1)[0])
        torch.testing.assert_close(inputs.states[t], states[following])


def test_a_window_without_wordpieces_is_refused(tiny_llm):
    with pytest.raises(ValueError, match="at least one wordpiece"):
        reader_token_inputs(tiny_llm.tokenizer, TEXT, torch.zeros(0, 8), np.zeros((0, 2)), max_pieces=4)


@pytest.mark.parametrize("token,expected", [
    (" museum", LOWER), (" Museum", CAPITALISED), ("A", CAPITALISED), (" McDonald", CAPITALISED),
    (" NASA", ALL_CAPITALS), ("TV", ALL_CAPITALS), ("1947", LOWER), (",", LOWER), ("enson", LOWER), ("", LOWER),
])
def test_case_class_reads_the_first_letter_and_whether_all_are_capitals(token, expected):
    assert case_class(token) == expected


def test_read_case_adds_the_case_class_times_max_pieces_and_nothing_else(tiny_llm):
    text = "The NASA museum in Paris."
    ids, offsets = _offsets(tiny_llm.tokenizer, text)
    state = torch.randn(1, 8)
    plain = reader_token_inputs(tiny_llm.tokenizer, text, state, np.array([[0, len(text)]]), max_pieces=3)
    cased = reader_token_inputs(tiny_llm.tokenizer, text, state, np.array([[0, len(text)]]), max_pieces=3,
                                read_case=True)
    classes = [case_class(text[s:e]) for s, e in offsets]
    assert {CAPITALISED, LOWER} <= set(classes)
    assert cased.pieces.tolist() == [p + 3 * c for p, c in zip(plain.pieces.tolist(), classes)]
    assert torch.equal(index_within_wordpiece(cased.pieces, 3), plain.pieces)
    assert torch.equal(cased.states, plain.states) and torch.equal(cased.token_ids, plain.token_ids)


def test_a_case_reading_projector_tells_apart_words_an_uncased_embedder_merges(tiny_llm):
    from tiny_projector import make_projector

    from projector.config import READER_TOKENS
    from projector.model import window_soft_tokens
    from rag.selection import Window

    state = torch.randn(1, 16)  # an uncased embedder gives both spellings the same state

    def first_soft_token(read_case: bool, text: str) -> torch.Tensor:
        torch.manual_seed(0)
        proj = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding=READER_TOKENS, max_pieces=4,
                              read_case=read_case).eval()
        assert proj.piece_embedding.num_embeddings == (12 if read_case else 4)
        torch.nn.init.normal_(proj.piece_embedding.weight)
        window = Window(passage=0, span=(0, 1), text=text, states=state, offsets=np.array([[0, len(text)]]))
        return window_soft_tokens(proj, [window], tiny_llm.tokenizer)[0][0]

    assert not torch.allclose(first_soft_token(True, "museum"), first_soft_token(True, "Museum"))
    torch.testing.assert_close(first_soft_token(False, "museum"), first_soft_token(False, "Museum"))


def _chunks(text: str, width: int) -> np.ndarray:
    """Wordpiece-like spans: every word cut into pieces of ``width`` characters."""
    return np.array([(m.start() + i, min(m.start() + i + width, m.end()))
                     for m in re.finditer(r"\S+", text) for i in range(0, m.end() - m.start(), width)])


@pytest.mark.parametrize("width", [1, 2, 3])
def test_split_at_wordpieces_reads_the_same_text_without_a_token_across_two_wordpieces(tiny_llm, width):
    pieces = _chunks(TEXT, width)
    states = torch.randn(len(pieces), 8)
    inputs = reader_token_inputs(tiny_llm.tokenizer, TEXT, states, pieces, max_pieces=8, split_at_wordpieces=True)
    assert tiny_llm.tokenizer.decode(inputs.token_ids.tolist()) == TEXT
    # each reader token's state is exactly one wordpiece's: none is a mix of two
    match = (inputs.states[:, None, :] - states[None]).abs().amax(-1) < 1e-6
    assert match.sum(1).eq(1).all()


def test_split_at_wordpieces_changes_nothing_where_the_wordpieces_are_the_reader_tokens(tiny_llm):
    ids, offsets = reader_tokens(tiny_llm.tokenizer, TEXT)
    states = torch.randn(len(ids), 8)
    split = reader_token_inputs(tiny_llm.tokenizer, TEXT, states, offsets, max_pieces=4, split_at_wordpieces=True)
    plain = reader_token_inputs(tiny_llm.tokenizer, TEXT, states, offsets, max_pieces=4)
    assert split.token_ids.tolist() == plain.token_ids.tolist() == ids
    torch.testing.assert_close(split.states, plain.states)
