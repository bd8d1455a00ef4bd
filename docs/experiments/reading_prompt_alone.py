"""What a projector's learned reading prompt does without the windows: the format control.

A reading prompt (``--reading-prompt N``) is trained on the answer NLL and the text teacher's KL, so some of
what it gains may be SQuAD's answer style rather than better reading of the windows. This arm keeps the prompt
and drops every window: the frozen LLM reads ``Background:`` + the N learned tokens + the question, i.e.
closed book with the prompt. Its gain over closed book is what the prompt gives without any retrieved content.

Run it as ``squeezerag bench`` with the projector that has the prompt::

    python docs/experiments/reading_prompt_alone.py bench --dataset ../shared/data/squad/squad-v1.1-dev-pool.json \
        --articles $VAL --corpus-from-dataset --limit 5000 --modes compressed --k 3 \
        --projector runs/rt-prompt/final --out runs/prompt-alone-VAL
"""

import sys

import projector.model as projector_model
from rag.cli import main


def prompt_alone(projector, windows, tokenizer=None):
    """``window_soft_tokens`` reduced to the reading prompt ``(N, d_model)``: one soft block, no window."""
    if projector.reading_prompt is None:
        raise SystemExit("this projector has no reading prompt (train one with --reading-prompt N)")
    return projector.reading_prompt.detach(), [len(projector.reading_prompt)]


if __name__ == "__main__":
    projector_model.window_soft_tokens = prompt_alone
    sys.exit(main(sys.argv[1:]))
