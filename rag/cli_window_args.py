"""The window flags shared by ``squeezerag ask`` and ``squeezerag bench``: how ``selected_text`` and window
projectors (``compressed`` with a ``wordpieces`` / ``reader_tokens`` projector) cut the retrieved passages.

Registration imports nothing heavy; :func:`window_config` and :func:`window_scorer_dir` run with the command.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

logger = logging.getLogger(__name__)

USED_BY = "selected_text and window-projector compressed"


def add_window_args(parser: Any) -> None:
    """Add ``--window-width``, ``--window-allocation``, ``--windows`` and ``--window-scorer`` to ``parser``
    (a parser or an argument group)."""
    parser.add_argument("--window-width", type=int, default=None,
                        help=f"{USED_BY}: embedder wordpieces per window (default 8 with a window scorer, 14 without)")
    parser.add_argument("--window-allocation", default="auto", choices=["auto", "per_passage", "global"],
                        help=f"{USED_BY}: one window per passage, or windows wherever the window scorer puts the "
                             "most answer mass (needs a scorer); auto: global with a scorer")
    parser.add_argument("--windows", type=int, default=None,
                        help=f"{USED_BY}: windows per question under global allocation (default: one per retrieved "
                             "passage)")
    parser.add_argument("--window-scorer", default="auto",
                        help=f"{USED_BY}: window scorer folder, 'none' (the untrained max-sim rule), or 'auto' (the "
                             "shipped one with the default embedder)")


def window_config(args: argparse.Namespace) -> Any:
    """The :class:`rag.selection.WindowConfig` the window flags describe."""
    from rag.selection import WindowConfig

    return WindowConfig(width=args.window_width, allocation=args.window_allocation, windows=args.windows)


def window_scorer_dir(args: argparse.Namespace, custom_embedder: bool = False) -> Any:
    """The window scorer folder ``--window-scorer`` names, or None (the untrained max-sim rule). 'auto' is the
    shipped scorer, which fits only the default embedder: with ``custom_embedder`` it falls back to the rule."""
    if args.window_scorer == "none":
        return None
    if args.window_scorer != "auto":
        return args.window_scorer
    if custom_embedder:
        logger.warning("--window-scorer auto: no shipped scorer for a non-default embedder; windows use the "
                       "untrained rule. Fix: pass --window-scorer DIR from `squeezerag train-windows`.")
        return None
    from rag.demo_index import default_window_scorer_dir

    return default_window_scorer_dir()
