"""Alignment pretraining of a window projector, with no LLM forward pass.

``wordpieces``: each embedder wordpiece state is mapped towards the LLM input embedding of the same characters:
the overlap-weighted mean embedding of the LLM tokens that cover the wordpiece's span (the two tokenisers cut
words differently, so a wordpiece may straddle tokens). ``reader_tokens``: each reader token's input
(:mod:`projector.reader_tokens`) is mapped to exactly that token's embedding. Cosine loss, since the
projector's outputs are normalised to the LLM's embedding norm anyway. This replaces xRAG's paraphrase stage
for these encodings: it costs seconds per epoch on a CPU instead of an LLM forward and backward per passage,
and the soft tokens start out as approximately the text they stand for, so the frozen LLM can read them before
any QA distillation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from projector.config import ProjectorConfig
from projector.model import Projector
from projector.reader_tokens import reader_token_inputs, shared_characters
from rag.llm import LLM
from rag.token_states import LAST_LAYER, TokenStates, token_states

logger = logging.getLogger(__name__)


@dataclass
class AlignConfig:
    """Optimisation of the alignment stage (AdamW over shuffled wordpieces)."""

    epochs: int = 8
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0
    # reader_tokens only: weight of a cross-entropy over the reader's whole vocabulary (cosine / temperature as
    # logits), added to the cosine loss. Cosine regression leaves a rare word's soft token at the mean of the words
    # its state might be, nearer another rare token than its own (" Norman" read as " Mesopotam"); the softmax
    # pushes it off its neighbours (docs/results.md, "The vocabulary as the alignment target").
    vocabulary_weight: float = 0.0
    temperature: float = 0.05


@dataclass(frozen=True)
class TokenLayout:
    """How a text's embedder states become alignment rows: a row per wordpiece (``max_pieces`` None, the
    ``wordpieces`` encoding) or per reader token (``max_pieces`` the cap on a token's index within its wordpiece,
    ``read_case`` to pass its case, ``split_at_wordpieces`` to tokenise the text one wordpiece at a time);
    ``layers``: the embedder layers read (``rag.token_states.TOKEN_LAYERS``)."""

    max_pieces: int | None = None
    layers: str = LAST_LAYER
    read_case: bool = False
    split_at_wordpieces: bool = False

    @classmethod
    def of(cls, config: ProjectorConfig) -> TokenLayout:
        """The layout a projector reads at query time, so its alignment rows are cut the same way."""
        return cls(config.max_pieces or None, config.token_layers, config.read_case, config.split_at_wordpieces)


def alignment_targets(llm: LLM, text: str, spans: np.ndarray) -> torch.Tensor:
    """``(L, d_model)``: for each wordpiece character span ``[start, end)`` in ``spans`` ``(L, 2)``, the mean
    input embedding of the LLM tokens of ``text`` overlapping it, weighted by the characters they share."""
    enc = llm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = np.asarray(enc.offset_mapping, dtype=np.int64).reshape(-1, 2)
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    shared = shared_characters(spans, offsets)
    if (shared.sum(1) == 0).any():
        raise ValueError(f"a wordpiece of {text[:60]!r}... shares no character with any LLM token: the "
                         "embedder's and the LLM's tokenisers must both report character offsets")
    weights = torch.from_numpy(shared / shared.sum(1, keepdims=True))
    return weights @ token_embeddings(llm, torch.tensor(enc.input_ids, dtype=torch.long))


def token_embeddings(llm: LLM, ids: torch.Tensor) -> torch.Tensor:
    """``(n, d_model)`` float32 on the CPU: the LLM's input embeddings of token ``ids`` ``(n,)`` (only those rows
    are converted, not the whole table once per text)."""
    weight = llm.input_embeddings.weight.detach()
    return weight[ids.to(weight.device)].float().cpu()


@dataclass
class AlignmentPairs:
    """Projector inputs and their targets: ``states`` ``(N, d_in)``, ``targets`` ``(N, d_model)``, for a
    ``reader_tokens`` projector each row's ``pieces`` ``(N,)`` and reader ``token_ids`` ``(N,)`` (else ``None``),
    and which text each row came from, ``text_ids`` ``(N,)`` (``None`` if not known). :func:`alignment_pairs`
    stores ``states`` in float16: all-layer rows are 2,688-d, and 10,000 passages give over a million of them."""

    states: torch.Tensor
    targets: torch.Tensor
    pieces: torch.Tensor | None = None
    text_ids: torch.Tensor | None = None
    token_ids: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.states.shape[0]

    def rows(self, index: torch.Tensor) -> AlignmentPairs:
        return AlignmentPairs(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[index]
                                 for f in fields(self)})

    @staticmethod
    def cat(parts: list[AlignmentPairs]) -> AlignmentPairs:
        """The rows of ``parts`` in order (all with the same optional fields). Empties ``parts`` as it copies, so
        the peak is one copy of the rows plus one part, not two copies (a million all-layer rows are ~5 GB)."""
        n = sum(len(p) for p in parts)
        first = {f.name: getattr(parts[0], f.name) for f in fields(AlignmentPairs)}
        out = {name: None if t is None else t.new_empty((n, *t.shape[1:])) for name, t in first.items()}
        at = 0
        while parts:
            part = parts.pop(0)
            for name, t in out.items():
                if t is not None:
                    t[at:at + len(part)] = getattr(part, name)
            at += len(part)
        return AlignmentPairs(**out)


def text_pairs(llm: LLM, text: str, states: TokenStates, layout: TokenLayout) -> AlignmentPairs:
    """One text's pairs, cut as ``layout`` says: a row per wordpiece, whose target is the embedding of its characters
    (:func:`alignment_targets`), or per reader token, whose target is exactly that token's input embedding."""
    if layout.max_pieces is None:
        return AlignmentPairs(states.projector_input, alignment_targets(llm, text, states.spans))
    text = text[:int(states.spans[-1][1])]  # the embedder's truncation: no states past its last wordpiece
    inputs = reader_token_inputs(llm.tokenizer, text, states.projector_input, states.spans, layout.max_pieces,
                                 layout.read_case, layout.split_at_wordpieces)
    return AlignmentPairs(inputs.states, token_embeddings(llm, inputs.token_ids), inputs.pieces,
                          token_ids=inputs.token_ids)


def alignment_pairs(llm: LLM, embedder: Any, texts: Sequence[str], layout: TokenLayout = TokenLayout(),
                    max_length: int = 256, batch_size: int = 64, progress: bool = True) -> AlignmentPairs:
    """Alignment pairs of ``texts``, cut as ``layout`` says (:func:`text_pairs`; ``TokenLayout.of(config)`` for a
    projector's own). Inputs are kept in float16 as each batch is made (the projector casts them back), halving
    the peak memory."""
    parts = []  # one per batch of texts: large blocks, each freed as soon as the final copy has taken it
    for s in tqdm(range(0, len(texts), batch_size), desc="alignment pairs", disable=not progress, unit="batch"):
        chunk, batch = list(texts[s:s + batch_size]), []
        for i, (text, states) in enumerate(zip(chunk, token_states(embedder, chunk, max_length, layout.layers)),
                                           start=s):
            if len(states.tokens):
                pair = text_pairs(llm, text, states, layout)
                batch.append(AlignmentPairs(pair.states.half(), pair.targets, pair.pieces,
                                            torch.full((len(pair),), i, dtype=torch.int32), pair.token_ids))
        parts += [AlignmentPairs.cat(batch)] if batch else []
    if not parts:
        raise ValueError("no text to align on: pass at least one non-empty passage")
    return AlignmentPairs.cat(parts)


def soft_rows(projector: Projector, pairs: AlignmentPairs) -> torch.Tensor:
    """``(N, d_model)``: one soft token per row of ``pairs`` (alignment and token fidelity compare each soft token
    with its own token, so a projector that merges tokens is refused)."""
    projector.config.require_token_per_soft_token("token alignment and token fidelity")
    device = projector.device
    pieces = None if pairs.pieces is None else pairs.pieces[:, None].to(device)
    return projector(pairs.states[:, None, :].to(device), pieces)[:, 0]


def alignment_loss(projector: Projector, pairs: AlignmentPairs, vocabulary: torch.Tensor | None = None,
                   temperature: float = AlignConfig.temperature) -> dict[str, torch.Tensor]:
    """Mean ``1 - cos`` between the soft tokens of ``pairs`` and their targets (``cosine``) and, given the unit-norm
    ``vocabulary`` ``(V, d_model)``, the cross-entropy of each row's reader token among all of them
    (``vocabulary``)."""
    soft = soft_rows(projector, pairs)
    parts = {"cosine": (1 - F.cosine_similarity(soft, pairs.targets.to(soft.device), dim=-1)).mean()}
    if vocabulary is not None:
        logits = F.normalize(soft, dim=-1).to(vocabulary.dtype) @ vocabulary.T
        parts["vocabulary"] = F.cross_entropy(logits.float() / temperature, pairs.token_ids.to(soft.device))
    return parts


def unit_vocabulary(llm: LLM, device: torch.device) -> torch.Tensor:
    """``(V, d_model)``: the LLM's input embeddings, unit-norm, in bfloat16: the vocabulary cross-entropy is three
    ``(batch, V)`` matmuls per step, and bf16 runs them 2.7x faster than fp32 on this project's CPU."""
    return F.normalize(llm.input_embeddings.weight.detach().float(), dim=-1).to(device, torch.bfloat16)


def align(projector: Projector, pairs: AlignmentPairs, config: AlignConfig, progress: bool = True,
          rows: torch.Tensor | None = None, vocabulary: torch.Tensor | None = None) -> list[dict]:
    """Train ``projector`` on ``pairs`` (only the ``rows`` indices ``(n,)`` if given: a held-out split costs no
    copy of the pairs); returns the per-epoch mean loss and its parts. ``vocabulary`` (:func:`unit_vocabulary`)
    is needed when ``config.vocabulary_weight`` is set."""
    if config.vocabulary_weight and (vocabulary is None or pairs.token_ids is None):
        raise ValueError("vocabulary_weight > 0 needs reader-token pairs (their token ids) and the reader's "
                         "vocabulary: align a 'reader_tokens' projector and pass vocabulary=unit_vocabulary(llm, ...)")
    optimizer = torch.optim.AdamW(projector.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    rows = torch.arange(len(pairs)) if rows is None else rows
    vocabulary = vocabulary if config.vocabulary_weight else None
    history = []
    projector.train()
    for epoch in tqdm(range(config.epochs), desc="align", disable=not progress, unit="epoch"):
        order = rows[torch.randperm(len(rows), generator=generator)]
        totals: dict[str, float] = {}
        for s in range(0, len(order), config.batch_size):
            batch = order[s:s + config.batch_size]
            parts = alignment_loss(projector, pairs.rows(batch), vocabulary, config.temperature)
            loss = parts["cosine"] + config.vocabulary_weight * parts.get("vocabulary", 0.0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in {"align_loss": loss, **parts}.items():
                totals[name] = totals.get(name, 0.0) + value.item() * len(batch)
        history.append({"epoch": epoch + 1, **{k: v / len(order) for k, v in totals.items()}})
        logger.info("align epoch %d: %s", epoch + 1, json.dumps(history[-1]))
    projector.eval()
    return history


@torch.no_grad()
def nearest_token_hits(llm: LLM, projector: Projector, pairs: AlignmentPairs,
                       chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: whether the soft token's nearest vocabulary embedding (cosine) is the target's ``(N,)`` bool, and
    the target's nearest token id ``(N,)``. ``chunk`` rows at a time: the similarities are ``(rows, vocabulary)``,
    12 GB for 60,000 rows of a 49k vocabulary."""
    vocab = F.normalize(llm.input_embeddings.weight.detach().float(), dim=-1).cpu()
    hits, wanted = [], []
    for s in range(0, len(pairs), chunk):
        part = pairs.rows(torch.arange(s, min(s + chunk, len(pairs))))
        predicted = (F.normalize(soft_rows(projector, part).float().cpu(), dim=-1) @ vocab.T).argmax(-1)
        wanted.append((F.normalize(part.targets.float().cpu(), dim=-1) @ vocab.T).argmax(-1))
        hits.append(predicted == wanted[-1])
    return torch.cat(hits), torch.cat(wanted)


def nearest_token_agreement(llm: LLM, projector: Projector, pairs: AlignmentPairs) -> float:
    """Fraction of rows whose soft token's nearest vocabulary embedding (cosine) is the target's."""
    return float(nearest_token_hits(llm, projector, pairs)[0].float().mean())
