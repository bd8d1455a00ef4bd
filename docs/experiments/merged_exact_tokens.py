"""Can the frozen reader read two tokens in one vector, untrained? Exact reader tokens merged in pairs.

Like ``perfect_reader_tokens.py``, every soft token of a ``reader_tokens`` projector's windows is replaced by the
exact input embedding of its reader token; then each window's tokens are merged ``MERGE`` at a time (the mean of
their embeddings, scaled to their mean norm; a window's last group may be shorter), so the reader reads a window of
``n`` tokens as ``ceil(n / MERGE)`` vectors. The projector's learned reading prompt stays where it writes it. This
is the untrained starting point of soft tokens that each carry more than one token (``ProjectorConfig.merge_tokens``;
docs/results.md, "Two tokens in one soft token").

Run it as ``squeezerag bench`` with a ``reader_tokens`` projector (its config only sets the layout)::

    MERGE=2 python docs/experiments/merged_exact_tokens.py bench --dataset ../shared/data/squad/squad-v1.1-dev-pool.json \
        --articles $VAL --corpus-from-dataset --limit 5000 --modes compressed --k 3 \
        --projector projector/weights/default --out runs/merged-exact-VAL
"""

import os
import sys

import torch

import projector.model as projector_model
import rag.pipeline as pipeline
from projector.model import window_reader_inputs
from rag.cli import main

MERGE = int(os.environ.get("MERGE", "2"))
projected_windows = projector_model.window_soft_tokens
attach_projector = pipeline.RAG.set_projector
vocabulary: list[torch.Tensor] = []


def merged(rows: torch.Tensor, group: int) -> torch.Tensor:
    """``rows`` ``(n, d)`` merged ``group`` at a time: ``(ceil(n / group), d)`` means at the rows' mean norm."""
    parts = rows.split(group)
    means = torch.stack([p.mean(0) for p in parts])
    norms = torch.stack([p.norm(dim=-1).mean() for p in parts])
    return torch.nn.functional.normalize(means, dim=-1) * norms[:, None]


def merged_exact_tokens(projector, windows, tokenizer=None):
    """``window_soft_tokens`` with each window read as its exact reader tokens merged ``MERGE`` at a time."""
    if not projector.config.reads_reader_tokens:
        raise SystemExit("merged exact tokens need a 'reader_tokens' projector (--projector)")
    soft, sizes = projected_windows(projector, windows, tokenizer)
    inputs = window_reader_inputs(projector.config, windows, tokenizer)
    blocks = [merged(vocabulary[0][x.token_ids].to(device=soft.device, dtype=soft.dtype), MERGE) for x in inputs]
    n_window = sum(len(x.token_ids) for x in inputs)
    n_answer, n_after = projector.config.answer_prompt, projector.config.closing_prompt
    n_before = len(soft) - n_window - n_after - n_answer
    new_sizes = [len(b) for b in blocks]
    new_sizes[0] += n_before
    new_sizes[-1] += n_after
    return torch.cat([soft[:n_before], *blocks, soft[n_before + n_window:]]), new_sizes


def set_projector(rag, projector):
    vocabulary[:] = [rag.llm.input_embeddings.weight.detach()]
    return attach_projector(rag, projector)


if __name__ == "__main__":
    pipeline.RAG.set_projector = set_projector
    projector_model.window_soft_tokens = merged_exact_tokens
    sys.exit(main(sys.argv[1:]))
