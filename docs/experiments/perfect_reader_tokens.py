"""The ceiling of a ``reader_tokens`` window projector: perfect soft tokens.

Every soft token the projector writes is replaced by the exact input embedding of the reader (LLM) token it
stands for, so the frozen LLM reads the selected windows verbatim, in the soft-window layout
(``rag.prompt.soft_windows_message``), with the same windows, retrieval and token count as the projector. The
gap between this and the projector is what its token fidelity costs (docs/results.md, "Every layer, not the last").
A projector's learned reading prompt, if it has one, is kept in front of the exact tokens.

Run it as ``squeezerag bench`` with a ``reader_tokens`` projector (its config only sets the layout)::

    python docs/experiments/perfect_reader_tokens.py bench --dataset ../shared/data/squad/squad-v1.1-dev-pool.json \
        --articles $VAL --corpus-from-dataset --limit 200 --seed 0 --batch-size 8 --modes compressed --k 3 \
        --projector projector/weights/default --out runs/oracle-rt-VAL-s0
"""

import sys

import torch

import projector.model as projector_model
import rag.pipeline as pipeline
from projector.model import window_reader_inputs
from rag.cli import main

projected_windows = projector_model.window_soft_tokens
attach_projector = pipeline.RAG.set_projector
vocabulary: list[torch.Tensor] = []


def perfect_window_tokens(projector, windows, tokenizer=None):
    """``window_soft_tokens`` with each soft token swapped for its reader token's exact embedding."""
    if not projector.config.reads_reader_tokens:
        raise SystemExit("perfect reader tokens need a 'reader_tokens' projector (--projector)")
    soft, sizes = projected_windows(projector, windows, tokenizer)
    ids = torch.cat([x.token_ids for x in window_reader_inputs(projector.config, windows, tokenizer)])
    exact = vocabulary[0][ids].to(device=soft.device, dtype=soft.dtype)
    # a learned reading prompt stays where the projector writes it, before and after the windows and after the
    # question (it stands for no token)
    n_before = len(soft) - len(exact) - projector.config.closing_prompt - projector.config.answer_prompt
    return torch.cat([soft[:n_before], exact, soft[n_before + len(exact):]]), sizes


def set_projector(rag, projector):
    vocabulary[:] = [rag.llm.input_embeddings.weight.detach()]
    return attach_projector(rag, projector)


if __name__ == "__main__":
    pipeline.RAG.set_projector = set_projector
    projector_model.window_soft_tokens = perfect_window_tokens
    sys.exit(main(sys.argv[1:]))
