"""Wordpiece states of a text from the sentence-transformers embedder: what window selection scores and what a
window projector reads.

Computed at query time from the passage text (no document prompt: they locate words, they do not retrieve), so
any index works. :func:`embedder_lengths` counts what that forward reads, for the FLOPs estimate
(:mod:`eval.flops`), with the same truncation rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Which embedder layers a window projector reads per wordpiece: the last (what selection and retrieval use), or
# every hidden state concatenated (embeddings output first). Early layers keep the token's identity that the last
# one has blended into context (measured: docs/results.md, "Every layer, not the last").
LAST_LAYER, ALL_LAYERS = "last", "all"
TOKEN_LAYERS = (LAST_LAYER, ALL_LAYERS)


def check_token_layers(layers: str) -> None:
    """Refuse a ``layers`` / ``token_layers`` value that is not one of :data:`TOKEN_LAYERS`."""
    if layers not in TOKEN_LAYERS:
        raise ValueError(f"token_layers must be one of {TOKEN_LAYERS}, got '{layers}'")


@dataclass
class TokenStates:
    """One text's wordpieces: normalised last-layer ``states`` ``(L, d)``, character ``spans`` ``(L, 2)`` in
    the text, and the wordpiece strings; special tokens are left out. With ``layers="all"``, ``layer_states``
    ``(L, (n_layers + 1) * d)``: every hidden state (embeddings output first), each normalised, concatenated and
    scaled to unit norm."""

    states: torch.Tensor
    spans: np.ndarray
    tokens: list[str]
    layer_states: torch.Tensor | None = None

    @property
    def projector_input(self) -> torch.Tensor:
        """What a window projector reads per wordpiece: ``layer_states`` when computed, else ``states``."""
        return self.states if self.layer_states is None else self.layer_states


@torch.no_grad()
def token_states(embedder: Any, texts: Sequence[str], max_length: int = 256,
                 layers: str = LAST_LAYER) -> list[TokenStates]:
    """Wordpiece states of ``texts`` (no document prompt: they locate words, they do not retrieve);
    ``layers="all"`` adds ``layer_states``."""
    check_token_layers(layers)
    if not texts:
        return []
    tok = embedder.tokenizer
    features = tok(list(texts), padding=True, truncation=True, max_length=_read_length(embedder, max_length),
                   return_tensors="pt", return_offsets_mapping=True, return_special_tokens_mask=True)
    spans = features.pop("offset_mapping").numpy()
    keep = (features.pop("special_tokens_mask") == 0) & (features["attention_mask"] == 1)
    input_ids = features["input_ids"]
    device = embedder.model.device
    features = {k: v.to(device) for k, v in features.items()}
    if layers == ALL_LAYERS:
        hidden = [F.normalize(h.float(), dim=-1) for h in _hidden_states(embedder, features)]
        states, stacked = hidden[-1].cpu(), (torch.cat(hidden, dim=-1) / len(hidden) ** 0.5).cpu()
    else:
        states, stacked = F.normalize(embedder.model(features)["token_embeddings"].float(), dim=-1).cpu(), None
    result = []
    for i in range(len(texts)):
        rows = keep[i].nonzero().flatten()
        ids = input_ids[i, rows].tolist()
        result.append(TokenStates(states[i, rows], spans[i, rows.numpy()], tok.convert_ids_to_tokens(ids),
                                  None if stacked is None else stacked[i, rows]))
    return result


def embedder_lengths(embedder: Any, texts: Sequence[str], max_length: int = 256) -> list[int]:
    """Tokens :func:`token_states` runs the embedder over for each text (special tokens included, padding not)."""
    ids = embedder.tokenizer(list(texts), truncation=True, max_length=_read_length(embedder, max_length))["input_ids"]
    return [len(row) for row in ids]


def _read_length(embedder: Any, max_length: int) -> int:
    return min(max_length, embedder.max_seq_length)  # never past the model's position table


def embedder_transformer(embedder: Any) -> nn.Module:
    """The Hugging Face transformer inside a sentence-transformers embedder (its first module's)."""
    module = embedder.model[0]
    model = getattr(module, "auto_model", None)  # `auto_model` or `model`, by release
    if model is None:
        model = getattr(module, "model", None)
    if model is None:
        raise ValueError(f"embedder {embedder.id!r} has no Hugging Face transformer as its first module, so its "
                         "hidden states and size cannot be read; use layers='last'")
    return model


def _hidden_states(embedder: Any, features: dict) -> tuple[torch.Tensor, ...]:
    """Every hidden state ``(b, t, d)`` of the embedder's transformer, embeddings output first."""
    return embedder_transformer(embedder)(**features, output_hidden_states=True, return_dict=True).hidden_states


def projector_input_dim(embedder: Any, layers: str) -> int:
    """Size of :attr:`TokenStates.projector_input` for ``embedder`` and ``layers`` (one probe forward)."""
    (probe,) = token_states(embedder, ["squeezerag"], layers=layers)
    return int(probe.projector_input.shape[1])
