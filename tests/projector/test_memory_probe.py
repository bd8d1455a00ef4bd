import numpy as np
import torch

from indexer.memory import segment_pool
from projector.memory_probe import ProbeConfig, probe_memory, segment_bags


def test_segment_bags_are_the_spans_segment_pool_averages():
    """Pooling one-hot token states with segment_pool lights up exactly each segment's bag (+ specials)."""
    special = {0, 1}
    for ids, m in (([0, 5, 6, 7, 8, 8, 9, 10, 11, 1], 3), ([0, 5, 1], 4), ([0, 2, 3, 4, 1], 2)):
        onehot = torch.nn.functional.one_hot(torch.tensor([ids]), 12).float()
        pooled = segment_pool(onehot, torch.ones(1, len(ids)), m)[0]
        expected = [sorted(set(torch.nonzero(row).flatten().tolist()) - special) for row in pooled]
        assert segment_bags([ids], m, special) == [expected]


def _corpus(n: int, m: int, vocab: int, rng: np.random.Generator) -> list[list[int]]:
    words = np.arange(2, vocab)
    p = 1.0 / words
    return [[0] + rng.choice(words, size=4 * m, p=p / p.sum()).tolist() + [1] for _ in range(n)]


def test_probe_reads_words_that_are_in_the_memory_and_not_others():
    rng = np.random.default_rng(0)
    vocab, m, d = 60, 2, 32
    token_ids = _corpus(300, m, vocab, rng)
    table = rng.normal(size=(vocab, d))
    bags = segment_bags(token_ids, m, {0, 1})
    # Memory that is the mean of per-word vectors (what mean pooling of token states would keep at best) ...
    informative = np.stack([[table[b].mean(0) for b in passage] for passage in bags])
    noise = rng.normal(size=informative.shape)  # ... and memory that says nothing about the words.
    cfg = ProbeConfig(epochs=30, lr=1e-2, batch_size=64, n_common=10)
    good = probe_memory(informative, token_ids, vocab, {0, 1}, cfg)
    bad = probe_memory(noise, token_ids, vocab, {0, 1}, cfg)
    assert good["probe"]["all"] > 0.8
    assert good["probe"]["rare"] > bad["probe"]["rare"] + 0.4
    assert good["prior"] == bad["prior"]
    tied = probe_memory(informative, token_ids, vocab, {0, 1}, ProbeConfig(tied=True, epochs=30, lr=1e-2,
                        batch_size=64, n_common=10), torch.tensor(table, dtype=torch.float32))
    assert tied["probe"]["rare"] > bad["probe"]["rare"] + 0.4
