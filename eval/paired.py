"""Is arm B better than arm A on the same questions? A paired difference with a bootstrap interval.

``python -m eval.paired compressed@runs/full-VAL-shipped compressed@runs/full-VAL-new``
(``compressed@runs/full-VAL-new+runs/full-SECOND-new`` pools two question sets into one arm; ``--by-kind`` adds
the difference on answers with a digit, capitalised answers and the others)

Two runs that answered the same questions (e.g. two projectors, or two modes of one run) are joined on question
id; the difference of their mean scores is resampled over questions, so the question-to-question variance the
two arms share cancels (two 200-question samples with ±0.05 intervals each can still separate by 0.02). The
counts of questions only one arm gets right say how the difference comes about.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from eval.merge import SCORES, load_arm
from eval.metrics import paired_bootstrap_ci


@dataclass
class PairedDifference:
    """``b - a`` of one score over ``n`` shared questions, its 95% ``interval``, and the questions only ``a`` /
    only ``b`` answers (by accuracy, whatever the score)."""

    score: str
    n: int
    a: float
    b: float
    interval: tuple[float, float]
    only_a: int
    only_b: int

    @property
    def difference(self) -> float:
        return self.b - self.a


def paired_difference(a: dict[str, dict], b: dict[str, dict], score: str = "accuracy", n_boot: int = 2000,
                      seed: int = 0) -> PairedDifference:
    """Paired ``b - a`` of ``score`` over the question ids both prediction maps hold (``load_arm``'s rows)."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("the two arms share no question id. Fix: compare runs over the same questions "
                         "(same --articles/--dataset; a --limit sample is a subset of the full pool)")
    xa = np.array([float(a[i][score]) for i in shared])
    xb = np.array([float(b[i][score]) for i in shared])
    interval = paired_bootstrap_ci(lambda ma, mb: mb - ma, [xa, xb], n=n_boot, seed=seed)
    right_a = np.array([a[i]["accuracy"] > 0 for i in shared])
    right_b = np.array([b[i]["accuracy"] > 0 for i in shared])
    return PairedDifference(score, len(shared), float(xa.mean()), float(xb.mean()), interval,
                            int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum()))


ANSWER_KINDS = ("digit", "capitalised", "other")


def answer_kind(answers: list[str]) -> str:
    """``digit`` if a gold alias holds a digit, else ``capitalised`` if one starts upper-case (names), else
    ``other``: the kinds a soft token carries differently (docs/results.md, "Which tokens decide")."""
    if any(any(c.isdigit() for c in a) for a in answers):
        return "digit"
    return "capitalised" if any(a[:1].isupper() for a in answers) else "other"


def by_answer_kind(a: dict[str, dict], b: dict[str, dict]) -> dict[str, tuple[dict, dict]]:
    """The two arms restricted to the shared questions of each :data:`ANSWER_KINDS` (kind from ``a``'s gold
    answers); kinds with no question are left out."""
    kinds: dict[str, tuple[dict, dict]] = {kind: ({}, {}) for kind in ANSWER_KINDS}
    for i in sorted(set(a) & set(b)):
        rows_a, rows_b = kinds[answer_kind(a[i].get("answers", []))]
        rows_a[i], rows_b[i] = a[i], b[i]
    return {kind: rows for kind, rows in kinds.items() if rows[0]}


def format_difference(d: PairedDifference) -> str:
    """One line per score; the right-only counts (accuracy flips) go on the accuracy line alone, since they do
    not depend on the score."""
    line = (f"{d.score}: {d.a:.3f} -> {d.b:.3f} on {d.n} questions, difference {d.difference:+.3f} "
            f"(95% interval {d.interval[0]:+.3f} to {d.interval[1]:+.3f})")
    return line + (f"; right only in a: {d.only_a}, only in b: {d.only_b}" if d.score == "accuracy" else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="[LABEL=]MODE@RUN_DIR[+RUN_DIR...], the reference")
    p.add_argument("b", help="[LABEL=]MODE@RUN_DIR[+RUN_DIR...], compared with it")
    p.add_argument("--scores", nargs="+", default=["accuracy", "f1"], choices=SCORES)
    p.add_argument("--by-kind", action="store_true",
                   help="also the accuracy difference on answers with a digit, capitalised answers and the others")
    args = p.parse_args(argv)
    try:
        (label_a, a), (label_b, b) = load_arm(args.a), load_arm(args.b)
    except ValueError as e:  # a bad arm: the message names it and the fix, no traceback
        p.error(str(e))
    print(f"{label_b} - {label_a}")
    for score in args.scores:
        print(format_difference(paired_difference(a, b, score)))
    if args.by_kind:
        for kind, (rows_a, rows_b) in by_answer_kind(a, b).items():
            print(f"{kind} answers, {format_difference(paired_difference(rows_a, rows_b))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
