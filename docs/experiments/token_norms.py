"""Does the soft tokens' fixed norm cost accuracy?

The projector L2-normalises every soft token and scales it to one learned norm (the reader's mean embedding norm,
3.20 for SmolLM2-135M), but the reader's own input embeddings range from ~2.2 to ~4.9 (1st-99th percentile) and the
tokens that carry answers sit low: digits 2.3-2.6, " Paris" 2.2. RMSNorm makes each layer's *read* of the residual
stream scale-free, but the embedding's size relative to what the layers add to the residual stays, so a digit
written at 3.2 weighs ~1.3x its own embedding. ``NORM_RULE`` picks one query-time rule (a patch of
``window_soft_tokens``, like ``perfect_reader_tokens.py``):

- ``perfect_fixed``: the exact token's direction at the projector's norm (the perfect-token ceiling under the
  norm constraint; compare with ``perfect_reader_tokens.py``);
- ``exact_norm``: the projector's direction at the exact token's norm (an oracle: what the right norm alone buys);
- ``nearest_norm``: the projector's direction at the norm of its cosine-nearest token (a rule usable at query
  time, no oracle)::

    NORM_RULE=exact_norm python docs/experiments/token_norms.py bench --dataset ../shared/data/squad/... \
        --articles $VAL --corpus-from-dataset --limit 200 --seed 0 --modes compressed --k 3 --out runs/norm-VAL-s0
"""

import os
import sys

import torch
import torch.nn.functional as F

import projector.model as projector_model
import rag.pipeline as pipeline
from projector.model import window_reader_inputs
from rag.cli import main

projected_windows = projector_model.window_soft_tokens
attach_projector = pipeline.RAG.set_projector
vocabulary: list[torch.Tensor] = []
RULES = ("perfect_fixed", "exact_norm", "nearest_norm")
RULE = os.environ.get("NORM_RULE", "exact_norm")


def renormed_window_tokens(projector, windows, tokenizer=None):
    """``window_soft_tokens`` with each soft token's direction or norm swapped as ``NORM_RULE`` says."""
    soft, sizes = projected_windows(projector, windows, tokenizer)
    table = vocabulary[0].to(soft.device)
    if RULE == "nearest_norm":
        ids = (F.normalize(soft.float(), dim=-1) @ F.normalize(table, dim=-1).T).argmax(-1)
    else:
        ids = torch.cat([x.token_ids for x in window_reader_inputs(projector.config, windows, tokenizer)])
    exact = table[ids.to(table.device)]
    if RULE == "perfect_fixed":
        out = F.normalize(exact, dim=-1) * soft.float().norm(dim=-1, keepdim=True)
    else:
        out = F.normalize(soft.float(), dim=-1) * exact.norm(dim=-1, keepdim=True)
    return out.to(soft.dtype), sizes


def set_projector(rag, projector):
    if not projector.config.reads_reader_tokens:
        raise SystemExit("token norms need a 'reader_tokens' projector (--projector)")
    vocabulary[:] = [rag.llm.input_embeddings.weight.detach().float()]
    return attach_projector(rag, projector)


if __name__ == "__main__":
    if RULE not in RULES:
        raise SystemExit(f"NORM_RULE must be one of {RULES}, got {RULE!r}")
    pipeline.RAG.set_projector = set_projector
    projector_model.window_soft_tokens = renormed_window_tokens
    sys.exit(main(sys.argv[1:]))
