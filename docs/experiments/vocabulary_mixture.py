"""Soft tokens moved onto the reader's vocabulary at query time: a mixture of token embeddings.

A ``reader_tokens`` projector aligned with the vocabulary cross-entropy scores each soft token against every
input embedding (cosine / temperature). This replaces each soft token by the expected embedding under that
softmax, ``softmax(cos(soft, E) / tau) @ E`` with ``E`` the raw input-embedding table ``(V, d_model)``: tau -> 0
is the nearest token (snapping), a large tau the vocabulary mean. The perfect-token ceiling
(``perfect_reader_tokens.py``) is this with the right token at weight 1; the question is whether the
projector's 85%-faithful soft tokens read better on the vocabulary manifold or off it.

``MIXTURE_TAU`` sets tau (default 0.05, the alignment temperature); ``MIXTURE_BLEND`` in [0, 1] keeps that share
of the projector's own vector (default 0: the mixture alone); ``MIXTURE_GATE`` in (0, 1] instead snaps only the soft
tokens whose nearest token has at least that probability under the softmax at ``MIXTURE_TAU`` to that token's
embedding and keeps the others as the projector wrote them::

    MIXTURE_TAU=0.02 python docs/experiments/vocabulary_mixture.py bench --dataset ../shared/data/squad/... \
        --articles $VAL --corpus-from-dataset --limit 200 --seed 0 --modes compressed --k 3 --out runs/mix-VAL-s0
"""

import os
import sys

import torch
import torch.nn.functional as F

import projector.model as projector_model
import rag.pipeline as pipeline
from rag.cli import main

projected_windows = projector_model.window_soft_tokens
attach_projector = pipeline.RAG.set_projector
vocabulary: list[torch.Tensor] = []
TAU = float(os.environ.get("MIXTURE_TAU", "0.05"))
BLEND = float(os.environ.get("MIXTURE_BLEND", "0"))
GATE = float(os.environ.get("MIXTURE_GATE", "0"))


def mixture_window_tokens(projector, windows, tokenizer=None):
    """``window_soft_tokens`` with each soft token ``(d_model,)`` replaced by its vocabulary mixture."""
    soft, sizes = projected_windows(projector, windows, tokenizer)
    table = vocabulary[0].to(soft.device)
    logits = F.normalize(soft.float(), dim=-1) @ F.normalize(table, dim=-1).T  # (n, V) cosines
    probs = torch.softmax(logits / TAU, dim=-1)
    if GATE:
        top, ids = probs.max(-1)
        sure = (top >= GATE)[:, None]
        return torch.where(sure, table[ids], soft.float()).to(soft.dtype), sizes
    mixed = probs @ table
    return (BLEND * soft.float() + (1 - BLEND) * mixed).to(soft.dtype), sizes


def set_projector(rag, projector):
    vocabulary[:] = [rag.llm.input_embeddings.weight.detach().float()]
    return attach_projector(rag, projector)


if __name__ == "__main__":
    pipeline.RAG.set_projector = set_projector
    projector_model.window_soft_tokens = mixture_window_tokens
    sys.exit(main(sys.argv[1:]))
