import pytest
import torch
from tiny_projector import make_projector

from projector.alignment import AlignmentPairs, nearest_token_agreement
from projector.config import READER_TOKENS
from projector.token_fidelity import answer_token_mask, token_fidelity, token_kind


@pytest.mark.parametrize("token,kind", [("Ġ1947", "digit"), ("7", "digit"), ("ĠParis", "capitalised"),
                                        ("Ġthe", "other"), ("Ġ", "other")])
def test_token_kinds(token, kind):
    assert token_kind(token) == kind


def random_reader_token_pairs(tiny_llm, n: int):
    """A random tiny ``reader_tokens`` projector and ``n`` random pairs (states, a random token's embedding)."""
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=16, tokens_per_vector=1, memory_encoding=READER_TOKENS,
                               max_pieces=3).eval()
    vocab = tiny_llm.input_embeddings.weight.detach().float()
    ids = torch.randint(0, vocab.shape[0], (n,))
    return projector, AlignmentPairs(torch.randn(n, 16), vocab[ids], ids % 3)


def test_fidelity_splits_the_overall_agreement_by_kind_and_piece(tiny_llm):
    projector, pairs = random_reader_token_pairs(tiny_llm, 64)
    result = token_fidelity(tiny_llm, projector, pairs)
    assert result["all"] == {"rows": 64, "agreement": nearest_token_agreement(tiny_llm, projector, pairs)}
    assert sum(result[k]["rows"] for k in ("digit", "capitalised", "other")) == 64
    assert sum(result[f"piece {i}"]["rows"] for i in range(3)) == 64
    # a projector that returns the targets themselves agrees everywhere
    perfect = AlignmentPairs(pairs.states, torch.stack([projector(s[None, None], p[None, None])[0, 0]
                                                        for s, p in zip(pairs.states, pairs.pieces)]).detach(),
                             pairs.pieces)
    assert token_fidelity(tiny_llm, projector, perfect)["all"]["agreement"] == 1.0


def test_answer_mask_marks_exactly_the_reader_tokens_of_each_texts_own_answers(tiny_llm):
    tok = tiny_llm.tokenizer
    texts = ["The cat sat on the mat, then the mat moved.", "No cat here."]
    answers = [["the mat"], ["the mat", "dog"]]  # the second text contains neither of its answers
    counts = [len(tok(t, add_special_tokens=False).input_ids) for t in texts]
    text_ids = torch.cat([torch.full((n,), i) for i, n in enumerate(counts)])
    mask = answer_token_mask(tok, texts, answers, text_ids)
    assert mask.shape == (sum(counts),) and not mask[counts[0]:].any()
    ids = tok(texts[0], add_special_tokens=False).input_ids
    marked = [i for i, m in zip(ids, mask[:counts[0]].tolist()) if m]
    # both occurrences are marked, nothing else: the marked tokens spell "the mat" twice
    assert tok.decode(marked).replace(" ", "") == "themat" * 2


def test_extra_groups_are_scored_like_the_built_in_ones(tiny_llm):
    projector, pairs = random_reader_token_pairs(tiny_llm, 32)
    first_half = torch.arange(32) < 16
    result = token_fidelity(tiny_llm, projector, pairs, {"answer": first_half})
    assert result["answer"] == token_fidelity(tiny_llm, projector, pairs.rows(torch.arange(16)))["all"]
