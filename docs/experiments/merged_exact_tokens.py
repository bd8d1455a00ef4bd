"""Can the frozen reader read two tokens in one vector, untrained? Exact reader tokens merged in pairs.

As in ``perfect_reader_tokens.py`` (whose swap this reuses), every soft token of a ``reader_tokens`` projector's windows is replaced by the
exact input embedding of its reader token; then each window's tokens are merged ``MERGE`` at a time (the mean of
their embeddings, scaled to their mean norm; a window's last group may be shorter), so the reader reads a window of
``n`` tokens as ``ceil(n / MERGE)`` vectors. The projector's learned reading prompt stays where it writes it. This
is the untrained starting point of soft tokens that each carry more than one token (``ProjectorConfig.merge_tokens``;
docs/results.md, "Soft tokens that carry two tokens each").

Run it as ``squeezerag bench`` with a ``reader_tokens`` projector (its config only sets the layout)::

    MERGE=2 python docs/experiments/merged_exact_tokens.py bench --dataset ../shared/data/squad/squad-v1.1-dev-pool.json \
        --articles $VAL --corpus-from-dataset --limit 5000 --modes compressed --k 3 \
        --projector projector/weights/default --out runs/merged-exact-VAL
"""

import os
import sys

import torch
from perfect_reader_tokens import perfect_window_tokens, set_projector

import projector.model as projector_model
import rag.pipeline as pipeline
from rag.cli import main

MERGE = int(os.environ.get("MERGE", "2"))


def merged(rows: torch.Tensor, group: int) -> torch.Tensor:
    """``rows`` ``(n, d)`` merged ``group`` at a time: ``(ceil(n / group), d)`` means at the rows' mean norm."""
    parts = rows.split(group)
    means = torch.stack([p.mean(0) for p in parts])
    norms = torch.stack([p.norm(dim=-1).mean() for p in parts])
    return torch.nn.functional.normalize(means, dim=-1) * norms[:, None]


def merged_exact_tokens(projector, windows, tokenizer=None):
    """``perfect_window_tokens`` with each window's exact tokens merged ``MERGE`` at a time (the reading prompt
    where the projector writes it)."""
    exact, sizes = perfect_window_tokens(projector, windows, tokenizer)
    config = projector.config
    n_before, n_after = config.reading_prompt - config.closing_prompt - config.answer_prompt, config.closing_prompt
    counts = [sizes[0] - n_before, *sizes[1:]]
    counts[-1] -= n_after
    end = n_before + sum(counts)
    blocks = [merged(block, MERGE) for block in exact[n_before:end].split(counts)]
    merged_sizes = [len(b) for b in blocks]
    merged_sizes[0] += n_before
    merged_sizes[-1] += n_after
    return torch.cat([exact[:n_before], *blocks, exact[end:]]), merged_sizes


if __name__ == "__main__":
    pipeline.RAG.set_projector = set_projector
    projector_model.window_soft_tokens = merged_exact_tokens
    sys.exit(main(sys.argv[1:]))
