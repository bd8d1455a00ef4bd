"""Reading distillation: the frozen LLM should read each soft token as it reads the token it stands for.

A ``reader_tokens`` projector writes one soft token per LLM token of a window, so every soft-window prompt has a
twin of exactly the same length and layout in which each soft token is the exact input embedding of its token
(the "perfect reader tokens" of ``docs/experiments/perfect_reader_tokens.py``, which recover ~0.93 of the
full-text boost where the projector recovers ~0.5). Position by position the two prompts should give the same
next-token distributions, from the first soft token to the end (the rest of the window, the question, the
answer): KL(twin || student) over the twin's top-k at every such position.

Why not only the answer tokens and nearest-token fidelity: on the validation set 42% of the questions the
perfect tokens answer and the projector misses had every answer token nearest-right
(``docs/experiments/answer_token_errors.py``). What matters is how the reader *reads* a vector, which only the
reader's own outputs measure; this loss gives that signal at every window position instead of at the 2-3 answer
tokens. Measured from the shipped projector (150 CPU steps): validation reading KL 1.37 -> 1.26 (floor 0.19),
accuracy a tie (docs/results.md, "Teaching the reader's reading").

With a reading prompt and a reader adapter, the twin keeps the prompt's rows and is read by the LLM as loaded
(no adapter), and the loss starts at the first window token: the adapted reader should read the soft windows as the
frozen one reads the words they stand for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from projector.losses import kl_top_k
from projector.model import Projector, window_reader_inputs, with_reading_prompt
from rag.llm import LLM
from rag.prompt import EncodedPrompt
from rag.selection import Window


def exact_twin_tokens(llm: LLM, projector: Projector, windows: Sequence[Window]) -> torch.Tensor:
    """The exact-token twin ``(n_soft, d_model)`` of the soft tokens the projector writes for ``windows``
    (``window_soft_tokens``): the same rows in the same layout, each window soft token replaced by the input
    embedding of the reader token it stands for, the reading prompt's rows (if any) kept as they are."""
    if not projector.config.reads_reader_tokens:
        raise ValueError("reading distillation needs a 'reader_tokens' projector: only it writes one soft token "
                         f"per reader token (this one reads '{projector.config.memory_encoding}')")
    projector.config.require_token_per_soft_token("reading distillation")
    if not windows:
        return torch.zeros((0, llm.hidden_size), device=llm.device, dtype=llm.dtype)
    inputs = window_reader_inputs(projector.config, windows, llm.tokenizer)
    exact = llm.embed(torch.cat([x.token_ids for x in inputs]).to(llm.device))
    return with_reading_prompt(projector, exact, [len(x.token_ids) for x in inputs])[0]


def reading_span(prompts: Sequence[EncodedPrompt], skip: int = 0) -> int:
    """How many last positions of the left-padded batch of ``prompts`` reach back to its earliest window soft token,
    the first ``skip`` soft positions of each prompt (reading-prompt rows in front of the windows) left out (pass
    it as ``n_keep`` to :func:`projector.losses.target_logits`)."""
    return max((len(p.ids) - p.soft_positions[skip] - 1 for p in prompts if len(p.soft_positions) > skip), default=0)


def reading_mask(prompts: Sequence[EncodedPrompt], n_keep: int, skip: int = 0) -> torch.Tensor:
    """``(batch, n_keep)`` mask over the logits predicting the last ``n_keep`` tokens: True from each prompt's
    first window soft token on (after its first ``skip`` soft positions; a prompt without one has none)."""
    mask = torch.zeros((len(prompts), n_keep), dtype=torch.bool)
    for i, p in enumerate(prompts):
        if len(p.soft_positions) > skip:
            # logit j predicts token len - n_keep + j of this row, i.e. sits at position len - n_keep - 1 + j
            first = p.soft_positions[skip] - (len(p.ids) - n_keep - 1)
            mask[i, max(first, 0):] = True
    return mask


def reading_kl(student: torch.Tensor, twin: torch.Tensor, mask: torch.Tensor, top_k: int,
               temperature: float = 1.0) -> torch.Tensor:
    """Mean KL(twin || student) over the ``mask``-ed positions; ``student`` and ``twin`` are logits
    ``(batch, n_keep, vocab)`` of the soft prompt and of its exact-token twin (no gradient needed)."""
    top = torch.log_softmax(twin.detach().float(), dim=-1).topk(top_k, dim=-1)
    return kl_top_k(student, top.indices, top.values, mask.to(student.device), temperature)
