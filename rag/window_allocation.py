"""Global window allocation: spend the k windows where the answer is, not one per passage.

With one window per retrieved passage, a passage that does not hold the answer still costs a full window. A
trained :class:`~rag.window_scorer.WindowScorer` scores every wordpiece of every passage; softmax over the
wordpieces of *all* k passages together makes those scores comparable across passages, and the k windows go,
greedily and without overlap, to the ``width``-wordpiece stretches with the most answer mass, so the best
passage may get two windows and a passage none (it is then left out of the prompt). The budget, k windows of
``width`` wordpieces, is the same as per-passage selection unless ``n_windows`` (``WindowConfig.windows``) sets
another.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Span = tuple[int, int]


def window_masses(probs: torch.Tensor, width: int) -> torch.Tensor:
    """Summed ``probs`` ``(L,)`` of every ``width``-long window ``(max(L - width + 1, 1),)`` (one if short)."""
    n = probs.shape[0]
    if n <= width:
        return probs.sum().reshape(1)
    sums = torch.cumsum(torch.cat([probs.new_zeros(1), probs]), 0)
    return sums[width:] - sums[:-width]


def allocate_windows(logits: Sequence[torch.Tensor], width: int, n_windows: int | None = None) -> list[list[Span]]:
    """``n_windows`` (default: one per passage) non-overlapping windows across passages with the most joint
    answer mass; per passage, its windows as sorted ``[start, end)`` spans (touching ones merged).

    ``logits``: one ``(L_i,)`` tensor of answer logits per passage of one question.
    """
    n_windows = len(logits) if n_windows is None else n_windows
    if not logits:
        return []
    joint = torch.softmax(torch.cat([x.float() for x in logits]), dim=0).split([x.shape[0] for x in logits])
    candidates = []
    for i, probs in enumerate(joint):
        w = min(width, probs.shape[0])
        candidates += [(float(m), i, s, s + w) for s, m in enumerate(window_masses(probs, width).tolist())]
    candidates.sort(key=lambda c: -c[0])
    chosen: list[list[Span]] = [[] for _ in logits]
    taken = 0
    for _, i, start, end in candidates:
        if taken == n_windows:
            break
        if all(end <= a or start >= b for a, b in chosen[i]):
            chosen[i].append((start, end))
            taken += 1
    return [merge_spans(spans) for spans in chosen]


def merge_spans(spans: list[Span]) -> list[Span]:
    """Sorted spans with touching or overlapping ones joined."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
