"""Bag-of-words probe: how much of a segment's wording can be read back from its memory vector.

The answer NLL says how much the LLM gets out of the soft tokens; this asks what is in the memory to begin
with. Each ``segments:m`` vector is the mean of the embedder's token states over one contiguous span (the
split of :func:`indexer.memory.segment_pool`); a probe (linear or one hidden layer) is trained to predict
that span's wordpieces (softmax over the bag) on 80% of the passages, and scored on the rest by
R-precision: the share of a span's distinct wordpieces among the probe's top-|span| predictions. "Rare" counts
only wordpieces outside the most frequent ``n_common`` of the table (names, numbers: what answers are made of).
The frequency prior (always predict the commonest wordpieces) is the floor.

A free vocab-sized output layer cannot learn wordpieces it never sees in training, and most rare ones occur in
a handful of passages; ``tied`` probes decode through the embedder's own (frozen) input word embeddings
instead, ``logits = (W x + b) E^T + c``, so a rare word the vector keeps can be found without having been a
training target.

``python -m projector.memory_probe RUN_DIR`` probes a `squeezerag train` run's cached memory.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass
class ProbeConfig:
    hidden: int = 0  # 0 = linear probe
    tied: bool = False  # decode through the embedder's word embeddings (needs them passed in)
    epochs: int = 8
    lr: float = 3e-3
    batch_size: int = 256
    test_share: float = 0.2
    n_common: int = 1000
    seed: int = 0


def segment_bags(token_ids: Sequence[Sequence[int]], m: int, special: set[int]) -> list[list[list[int]]]:
    """Per passage, per segment: the distinct non-special wordpieces of the span it mean-pools.

    ``token_ids`` are the embedder's input ids (special tokens included, as the memory was computed).
    """
    out = []
    for ids in token_ids:
        n = len(ids)
        spans = [(j * n // m, max((j + 1) * n // m, j * n // m + 1)) for j in range(m)]
        out.append([sorted(set(ids[s:e]) - special) for s, e in spans])
    return out


class TiedDecoder(nn.Module):
    """``(n, d_in)`` -> ``(n, vocab)`` logits through frozen word embeddings ``(vocab, d_word)``."""

    def __init__(self, d_in: int, word_embeddings: torch.Tensor) -> None:
        super().__init__()
        self.proj = nn.Linear(d_in, word_embeddings.shape[1])
        self.register_buffer("words", word_embeddings)
        self.bias = nn.Parameter(torch.zeros(word_embeddings.shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) @ self.words.T + self.bias


def fit_probe(x: torch.Tensor, bags: list[list[int]], vocab: int, cfg: ProbeConfig,
              word_embeddings: torch.Tensor | None = None) -> nn.Module:
    """Train ``x`` ``(n, d)`` -> vocab logits so each row's softmax puts its mass on its bag."""
    torch.manual_seed(cfg.seed)
    d = x.shape[1]
    if cfg.tied:
        if word_embeddings is None:
            raise ValueError("a tied probe needs the embedder's word embeddings (vocab, d_word)")
        probe: nn.Module = TiedDecoder(d, word_embeddings)
    elif cfg.hidden:
        probe = nn.Sequential(nn.Linear(d, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, vocab))
    else:
        probe = nn.Linear(d, vocab)
    ids, weights = _padded(bags)
    opt = torch.optim.Adam(probe.parameters(), lr=cfg.lr)
    for epoch in range(cfg.epochs):
        perm = torch.from_numpy(np.random.default_rng(cfg.seed + epoch).permutation(len(bags)))
        for b in perm.split(cfg.batch_size):
            logp = torch.log_softmax(probe(x[b]), dim=-1).gather(1, ids[b])
            loss = -(weights[b] * logp).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probe.eval()


def _padded(bags: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(b) for b in bags)
    ids = torch.zeros(len(bags), width, dtype=torch.long)
    weights = torch.zeros(len(bags), width)
    for r, bag in enumerate(bags):
        ids[r, :len(bag)] = torch.tensor(bag)
        weights[r, :len(bag)] = 1.0 / len(bag)
    return ids, weights


def r_precision(scores: torch.Tensor, bags: list[list[int]], rare: set[int]) -> tuple[float, float]:
    """Mean R-precision over rows (all wordpieces, and rare ones only) of ``scores`` ``(n, vocab)``."""
    every, rare_only = [], []
    for row, bag in zip(scores, bags):
        top = set(torch.topk(row, len(bag)).indices.tolist())
        every.append(len(top & set(bag)) / len(bag))
        rare_bag = [t for t in bag if t in rare]
        if rare_bag:
            rare_only.append(len(top & set(rare_bag)) / len(rare_bag))
    return float(np.mean(every)), float(np.mean(rare_only)) if rare_only else float("nan")


def probe_memory(memory: np.ndarray, token_ids: Sequence[Sequence[int]], vocab: int, special: set[int],
                 cfg: ProbeConfig, word_embeddings: torch.Tensor | None = None) -> dict:
    """Probe ``memory`` ``(n_passages, m, d)`` against the passages' ``token_ids``; returns R-precisions.

    ``word_embeddings`` ``(vocab, d_word)``: the embedder's input embeddings, for ``cfg.tied``.
    """
    n, m, _ = memory.shape
    rows, bags = [], []
    for p, passage_bags in enumerate(segment_bags(token_ids, m, special)):
        for j, bag in enumerate(passage_bags):
            if bag:
                rows.append((p, j))
                bags.append(bag)
    passage = np.array([p for p, _ in rows])
    held_out = np.random.default_rng(cfg.seed).choice(n, max(1, int(n * cfg.test_share)), replace=False)
    test = np.isin(passage, held_out)
    counts = np.bincount([t for b in bags for t in b], minlength=vocab)
    rare = set(np.argsort(-counts, kind="stable")[cfg.n_common:].tolist())
    x = torch.from_numpy(np.stack([memory[p, j] for p, j in rows]).astype(np.float32))
    x = (x - x[~test].mean(0)) / x[~test].std(0).clamp(min=1e-6)
    probe = fit_probe(x[~test], [b for b, t in zip(bags, test) if not t], vocab, cfg, word_embeddings)
    test_bags = [b for b, t in zip(bags, test) if t]
    with torch.no_grad():
        scores = probe(x[test])
    prior = torch.from_numpy(counts.astype(np.float32)).expand(len(test_bags), vocab)
    return {"config": asdict(cfg), "segments": len(bags), "test_segments": len(test_bags),
            "mean_bag": float(np.mean([len(b) for b in bags])),
            "probe": dict(zip(("all", "rare"), r_precision(scores, test_bags, rare))),
            "prior": dict(zip(("all", "rare"), r_precision(prior, test_bags, rare)))}


def main(argv: list[str] | None = None) -> int:
    from indexer import load_embedder
    from indexer.build import embedding_inputs
    from projector.answer_nll import emit_json
    from projector.recipe import PASSAGES_FILE, RecipeConfig, memory_cache_file

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a `squeezerag train` run directory with a segments:m memory cache in data/")
    ap.add_argument("--hidden", type=int, default=0, help="hidden width of the probe (0 = linear)")
    ap.add_argument("--tied", action="store_true", help="decode through the embedder's word embeddings")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    run = Path(args.run)
    cfg = RecipeConfig.from_json(run / "recipe.json")
    memory = np.load(memory_cache_file(run / "data", cfg.encoding))
    meta = json.loads((run / "data" / PASSAGES_FILE).read_text())
    embedder = load_embedder(cfg.embedder)
    tok = embedder.tokenizer
    inputs = [embedder.document_prompt + t for t in embedding_inputs(embedder, meta["titles"], meta["texts"])]
    token_ids = [tok(t, truncation=True, max_length=embedder.max_seq_length).input_ids for t in inputs]
    words = embedder.model[0].auto_model.get_input_embeddings().weight.detach().float() if args.tied else None
    result = probe_memory(memory, token_ids, tok.vocab_size, set(tok.all_special_ids),
                          ProbeConfig(hidden=args.hidden, tied=args.tied, epochs=args.epochs), words)
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
