"""QA and retrieval metrics (SQuAD EM/F1, DPR/xRAG accuracy, recall@k, boost recovery, bootstrap CIs).

Normalisation (:func:`normalize_answer`) is SQuAD's: lowercase, strip punctuation, drop the articles
a/an/the, collapse whitespace. Two Unicode additions, which change nothing on ASCII text: the text is
NFKC-normalised first (full-width digits, ligatures, composed accents compare equal) and every Unicode
punctuation character (category ``P*``: curly quotes, dashes, ...) is stripped, not only ASCII punctuation.
Like the official script, punctuation is deleted, not replaced by a space: ``"1,000"`` == ``"1000"``, but
``"1,000"`` != ``"1 000"`` and ``"two"`` != ``"2"`` (numbers are not canonicalised).

Three answer metrics, all per question in [0, 1], max over the gold aliases:

- :func:`exact_match` — normalised prediction equals a normalised alias;
- :func:`f1_score` — SQuAD token-overlap F1;
- :func:`has_answer` ("accuracy" in xRAG/DPR) — a normalised alias occurs as a *contiguous token sequence*
  in the normalised prediction (so ``"Paris, France"`` is right for ``"Paris"``, ``"Parisian"`` is not).

Empty gold list (a SQuAD v2 "no answer" question): EM and F1 follow the SQuAD v2 script, i.e. the gold is
the empty string and an empty prediction scores 1. ``has_answer`` is False: there is nothing to find.
Aliases that normalise to nothing (e.g. ``"The"``) are ignored by ``has_answer`` (an empty sequence would
be found in every output).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", flags=re.UNICODE)
_ASCII_PUNCT = frozenset(string.punctuation)


def _is_punct(char: str) -> bool:
    return char in _ASCII_PUNCT or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (plus NFKC and Unicode punctuation, see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if not _is_punct(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def _golds(answers: Sequence[str]) -> list[str]:
    """SQuAD v2 convention: no gold answer means the gold is the empty string."""
    return list(answers) if answers else [""]


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals some normalised gold alias, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(gold) for gold in _golds(answers)))


def _f1_one(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1 between the prediction and the best-matching gold alias."""
    pred = _tokens(prediction)
    return max(_f1_one(pred, _tokens(gold)) for gold in _golds(answers))


f1 = f1_score  # the short name used in the design notes


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def has_answer(text: str, answers: Sequence[str]) -> bool:
    """True if some (non-empty after normalisation) gold alias occurs as a contiguous token run in ``text``."""
    haystack = _tokens(text)
    return any(_contains(haystack, needle) for needle in map(_tokens, answers) if needle)


def answer_recall_at_k(passages: Sequence[str], answers: Sequence[str], k: int) -> bool:
    """Retrieval recall@k (DPR style): some gold alias occurs (:func:`has_answer`) in one of the top-k texts."""
    return any(has_answer(text, answers) for text in passages[:k])


def _squash(text: str) -> str:
    return " ".join(text.split())


def gold_passage_recall_at_k(passages: Sequence[str], gold_context: str, k: int) -> bool:
    """True if one of the top-k passages *is* the gold context: its text contains, or is contained in, the
    gold context (whitespace-collapsed), so an index that chunks documents still counts its chunks.
    """
    gold = _squash(gold_context)
    if not gold:
        return False
    return any(p and (p in gold or gold in p) for p in map(_squash, passages[:k]))


def boost_recovery(compressed: float, closed: float, full: float) -> float | None:
    """Fraction of the full-text RAG gain that a compressed mode keeps: ``(c - closed) / (full - closed)``.

    1.0 = as good as full text, 0.0 = no better than closed book; it can be negative (worse than closed
    book) or above 1 (better than full text). None when ``full == closed`` (no gain to recover: undefined).
    """
    gain = full - closed
    if gain == 0 or math.isnan(gain):
        return None
    return (compressed - closed) / gain


def _conditional_rate(mode_correct: Sequence[bool], closed_correct: Sequence[bool], when: bool) -> float | None:
    if len(mode_correct) != len(closed_correct):
        raise ValueError(f"Need one entry per question on both sides; got {len(mode_correct)} and "
                         f"{len(closed_correct)}. Fix: compare the same questions in the same order.")
    picked = [bool(m) for m, c in zip(mode_correct, closed_correct, strict=True) if bool(c) == when]
    return sum(picked) / len(picked) if picked else None


def resilience_rate(mode_correct: Sequence[bool], closed_correct: Sequence[bool]) -> float | None:
    """xRAG resilience: of the questions closed book got right, the fraction the mode still gets right.
    None when closed book got none right."""
    return _conditional_rate(mode_correct, closed_correct, when=True)


def boost_rate(mode_correct: Sequence[bool], closed_correct: Sequence[bool]) -> float | None:
    """xRAG boost rate: of the questions closed book got wrong, the fraction the mode gets right.
    None when closed book got every question right."""
    return _conditional_rate(mode_correct, closed_correct, when=False)


def _resampled_indices(n_items: int, n: int, seed: int, chunk: int = 100):
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        yield rng.integers(0, n_items, size=(min(chunk, n - start), n_items))


def bootstrap_ci(values: Sequence[float], n: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (``n`` resamples, seeded)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value. Fix: skip the CI for an empty mode.")
    means = np.concatenate([data[idx].mean(axis=1) for idx in _resampled_indices(data.size, n, seed)])
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap_ci(statistic: Callable[..., float | None], columns: Sequence[Sequence[float]],
                        n: int = 1000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float] | None:
    """Bootstrap CI of ``statistic(*column_means)`` resampling *questions* (rows shared by all columns).

    Used for boost recovery: the same resampled questions feed the compressed, closed-book and full-text
    means. Resamples where the statistic is undefined (None) are dropped; None if all are.
    """
    data = np.asarray(columns, dtype=np.float64)
    stats: list[float] = []
    for idx in _resampled_indices(data.shape[1], n, seed):
        means = data[:, idx].mean(axis=2)  # (columns, resamples)
        stats.extend(s for s in (statistic(*col) for col in means.T) if s is not None)
    if not stats:
        return None
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)
