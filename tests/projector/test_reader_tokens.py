import re

import numpy as np
import pytest
import torch

from projector.reader_tokens import reader_token_inputs

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
