"""Memory encodings: parsing, segment pooling, embedder outputs from one forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from indexer import MemoryEncoding, parse_encoding
from indexer.memory import segment_pool


def test_parse_encoding() -> None:
    assert parse_encoding("pooled") == MemoryEncoding("pooled", 1)
    seg = parse_encoding("segments:8")
    assert (seg.kind, seg.n_vectors, seg.file_name, str(seg)) == ("segments", 8, "memory.segments-8.f16.npy",
                                                                  "segments:8")
    for bad in ("segments", "segments:0", "mean", "segments:x"):
        with pytest.raises(ValueError, match="segments:<m>"):
            parse_encoding(bad)


def test_segment_pool_means_and_padding_side() -> None:
    states = torch.arange(6, dtype=torch.float32).view(1, 6, 1).repeat(1, 1, 2)  # token t has value t
    right = segment_pool(states, torch.tensor([[1, 1, 1, 1, 0, 0]]), 2)
    assert right[0, :, 0].tolist() == [0.5, 2.5]
    left = segment_pool(states, torch.tensor([[0, 0, 1, 1, 1, 1]]), 2)
    assert left[0, :, 0].tolist() == [2.5, 4.5]


def test_segment_pool_fewer_tokens_than_segments_reuses_tokens() -> None:
    states = torch.tensor([[[1.0], [3.0], [0.0]]])
    out = segment_pool(states, torch.tensor([[1, 1, 0]]), 5)
    assert torch.isfinite(out).all() and set(out[0, :, 0].tolist()) == {1.0, 3.0}


def test_encode_with_memory_matches_encode(tiny_embedder) -> None:
    texts = ["The pellucid owl hunts during eclipses.", "Short.", "Kessel Bridge has seven arches of granite."]
    emb, memory = tiny_embedder.encode_with_memory(texts, ["pooled", "segments:3"], batch_size=2)
    assert emb.shape == (3, tiny_embedder.dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb, tiny_embedder.encode(texts), atol=1e-5)
    assert memory["pooled"].shape == (3, 1, tiny_embedder.dim)
    np.testing.assert_allclose(memory["pooled"][:, 0], emb, atol=1e-6)
    assert memory["segments:3"].shape == (3, 3, tiny_embedder.token_dim)
    assert np.isfinite(memory["segments:3"]).all()


def test_probe_vector(tiny_embedder) -> None:
    probe = tiny_embedder.probe_vector()
    assert probe.shape == (tiny_embedder.dim,) and abs(float(np.linalg.norm(probe)) - 1) < 1e-5
