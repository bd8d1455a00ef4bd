import pytest
import torch
from tiny_projector import make_projector

from projector.alignment import AlignmentPairs, nearest_token_agreement
from projector.config import READER_TOKENS
from projector.token_fidelity import token_fidelity, token_kind


@pytest.mark.parametrize("token,kind", [("Ġ1947", "digit"), ("7", "digit"), ("ĠParis", "capitalised"),
                                        ("Ġthe", "other"), ("Ġ", "other")])
def test_token_kinds(token, kind):
    assert token_kind(token) == kind


def test_fidelity_splits_the_overall_agreement_by_kind_and_piece(tiny_llm):
    torch.manual_seed(0)
    projector = make_projector(tiny_llm, d_embed=16, tokens_per_vector=1, memory_encoding=READER_TOKENS,
                               max_pieces=3).eval()
    vocab = tiny_llm.input_embeddings.weight.detach().float()
    ids = torch.randint(0, vocab.shape[0], (64,))
    pairs = AlignmentPairs(torch.randn(64, 16), vocab[ids], ids % 3)
    result = token_fidelity(tiny_llm, projector, pairs)
    assert result["all"] == {"rows": 64, "agreement": nearest_token_agreement(tiny_llm, projector, pairs)}
    assert sum(result[k]["rows"] for k in ("digit", "capitalised", "other")) == 64
    assert sum(result[f"piece {i}"]["rows"] for i in range(3)) == 64
    # a projector that returns the targets themselves agrees everywhere
    perfect = AlignmentPairs(pairs.states, torch.stack([projector(s[None, None], p[None, None])[0, 0]
                                                        for s, p in zip(pairs.states, pairs.pieces)]).detach(),
                             pairs.pieces)
    assert token_fidelity(tiny_llm, projector, perfect)["all"]["agreement"] == 1.0
