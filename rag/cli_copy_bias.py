"""The copy-bias flag shared by ``squeezerag ask`` and ``squeezerag bench`` (:mod:`rag.copy_bias`): a logit bonus
that leans an answer towards its context text, for every mode that has one. Off (0) by default."""

from __future__ import annotations

import argparse
from typing import Any


def logit_bonus(text: str) -> float:
    """A flag's value as a logit bonus: a number >= 0 (a negative one would steer answers away from the context)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a logit bonus; pass 0 (off) or a positive number "
                                         "such as 2")
    return value


def add_copy_bias_arg(parser: Any) -> None:
    """Add ``--copy-bias`` to ``parser`` (a parser or an argument group)."""
    parser.add_argument("--copy-bias", type=logit_bonus, default=0.0,
                        help="logit bonus for the context text's tokens (0: off; 2 measured best)")

