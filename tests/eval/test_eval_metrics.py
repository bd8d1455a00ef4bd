"""Metrics on hand-made cases, edge cases included."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    answer_recall_at_k,
    boost_rate,
    boost_recovery,
    bootstrap_ci,
    exact_match,
    f1_score,
    gold_passage_recall_at_k,
    has_answer,
    normalize_answer,
    paired_bootstrap_ci,
    resilience_rate,
)


@pytest.mark.parametrize("text, expected", [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  a   cat,  an apple; THE end ", "cat apple end"),
    ("the", ""),
    ("...", ""),
    ("", ""),
    ("Theory of the thing", "theory of thing"),   # 'the' only as a whole word
    ("“Quoted” — dash", "quoted dash"),           # Unicode punctuation removed
    ("Café", "café"),                             # accents kept, case folded
    ("１２３", "123"),                              # NFKC: full-width digits
    ("$1,000.50", "100050"),                      # punctuation deleted, not spaced
])
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_basic_and_aliases() -> None:
    assert exact_match("The Beatles", ["Beatles"]) == 1.0
    assert exact_match("beatles.", ["The Rolling Stones", "the beatles"]) == 1.0
    assert exact_match("The Beatles band", ["Beatles"]) == 0.0


def test_exact_match_unicode_composed_vs_decomposed() -> None:
    assert exact_match("Cafe\u0301", ["Café"]) == 1.0  # NFKC composes the accent


def test_number_formatting() -> None:
    assert exact_match("1,000", ["1000"]) == 1.0
    assert exact_match("1 000", ["1000"]) == 0.0     # a space splits tokens
    assert exact_match("two", ["2"]) == 0.0          # numbers are not canonicalised
    assert has_answer("about 1,000 people", ["1000"])


def test_empty_prediction() -> None:
    assert exact_match("", ["Paris"]) == 0.0
    assert f1_score("", ["Paris"]) == 0.0
    assert not has_answer("", ["Paris"])


def test_empty_gold_list_follows_squad_v2() -> None:
    assert exact_match("", []) == 1.0
    assert f1_score("", []) == 1.0
    assert exact_match("Paris", []) == 0.0
    assert f1_score("Paris", []) == 0.0
    assert not has_answer("", [])
    assert not has_answer("anything", [])


def test_punctuation_and_articles_only() -> None:
    assert exact_match("the.", ["A!"]) == 1.0          # both normalise to ""
    assert f1_score("the.", ["A!"]) == 1.0
    assert f1_score("Paris", ["The"]) == 0.0
    assert not has_answer("The answer is the", ["the"])  # empty aliases never count


def test_f1_partial_overlap_and_max_over_aliases() -> None:
    # pred tokens: [barack, obama] gold: [obama] -> P=1/2, R=1 -> F1=2/3
    assert f1_score("Barack Obama", ["Obama"]) == pytest.approx(2 / 3)
    assert f1_score("Barack Obama", ["Michelle", "Obama", "Barack Obama"]) == 1.0
    assert f1_score("red red blue", ["red blue blue"]) == pytest.approx(2 / 3)  # multiset overlap = 2


def test_alias_longer_than_prediction() -> None:
    assert not has_answer("Obama", ["Barack Hussein Obama"])
    assert f1_score("Obama", ["Barack Hussein Obama"]) == pytest.approx(0.5)
    assert exact_match("Obama", ["Barack Hussein Obama"]) == 0.0


def test_has_answer_contiguous_tokens() -> None:
    assert has_answer("I think it was Paris, France.", ["Paris"])
    assert has_answer("The answer is New York City", ["new york"])
    assert not has_answer("Parisian cafés", ["Paris"])        # token boundary
    assert not has_answer("York is new", ["New York"])        # order matters
    assert has_answer("It is in Paris", ["Lyon", "paris"])     # any alias


def test_answer_recall_at_k() -> None:
    passages = ["Berlin is big.", "Paris is the capital.", "Rome."]
    assert not answer_recall_at_k(passages, ["Paris"], k=1)
    assert answer_recall_at_k(passages, ["Paris"], k=2)
    assert not answer_recall_at_k([], ["Paris"], k=3)


def test_gold_passage_recall_at_k() -> None:
    gold = "Paris is the capital of France.  It is large."
    assert gold_passage_recall_at_k(["other", "Paris is the capital of France. It is large."], gold, k=2)
    assert not gold_passage_recall_at_k(["other", gold], gold, k=1)
    assert gold_passage_recall_at_k(["It is large."], gold, k=1)           # a chunk of the gold
    assert not gold_passage_recall_at_k(["x"], "", k=1)


def test_boost_recovery() -> None:
    assert boost_recovery(0.39, 0.30, 0.42) == pytest.approx(0.75)
    assert boost_recovery(0.42, 0.30, 0.42) == pytest.approx(1.0)
    assert boost_recovery(0.20, 0.30, 0.40) == pytest.approx(-1.0)
    assert boost_recovery(0.5, 0.3, 0.3) is None
    assert boost_recovery(0.5, 0.3, math.nan) is None


def test_resilience_and_boost_rates() -> None:
    closed = [True, True, False, False, False]
    mode = [True, False, True, False, True]
    assert resilience_rate(mode, closed) == pytest.approx(0.5)
    assert boost_rate(mode, closed) == pytest.approx(2 / 3)
    assert resilience_rate([True], [False]) is None
    assert boost_rate([True], [True]) is None
    with pytest.raises(ValueError, match="same questions"):
        boost_rate([True], [True, False])


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    values = [1.0] * 30 + [0.0] * 70
    low, high = bootstrap_ci(values, n=500, seed=3)
    assert (low, high) == bootstrap_ci(values, n=500, seed=3)
    assert low < 0.3 < high
    assert 0.15 < low and high < 0.45
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_paired_bootstrap_ci_of_boost_recovery() -> None:
    closed = [0.0] * 50 + [1.0] * 50
    full = [1.0] * 100
    compressed = [1.0] * 75 + [0.0] * 25   # mean 0.75, halfway from closed (0.5) to full (1.0)
    ci = paired_bootstrap_ci(boost_recovery, [compressed, closed, full], n=300, seed=0)
    assert ci is not None and ci[0] <= 0.5 <= ci[1]
    assert paired_bootstrap_ci(boost_recovery, [[1.0], [1.0], [1.0]], n=10) is None
