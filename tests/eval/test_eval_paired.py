import pytest
from test_eval_merge import _run

from eval.merge import load_arm
from eval.paired import main, paired_difference


def test_paired_difference_joins_on_question_ids_and_counts_the_flips(tmp_path):
    a = _run(tmp_path / "a", {"compressed": [1, 0, 0, 1, 0, 0]})
    b = _run(tmp_path / "b", {"compressed": [1, 1, 1, 0, 0]})  # q5 missing: only shared questions count
    d = paired_difference(load_arm(f"compressed@{a}")[1], load_arm(f"compressed@{b}")[1])
    assert (d.n, d.a, d.b, d.difference) == (5, 0.4, 0.6, pytest.approx(0.2))
    assert (d.only_a, d.only_b) == (1, 2)
    assert d.interval[0] <= d.difference <= d.interval[1] and d.interval[0] < d.interval[1]


def test_identical_arms_differ_by_exactly_zero_in_every_resample(tmp_path):
    a = _run(tmp_path / "a", {"compressed": [1, 0, 1, 0]})
    arm = load_arm(f"compressed@{a}")[1]
    d = paired_difference(arm, arm, "f1")
    assert d.difference == 0 and d.interval == (0.0, 0.0) and (d.only_a, d.only_b) == (0, 0)


def test_unshared_arms_are_refused_and_the_cli_prints_b_minus_a(tmp_path, capsys):
    a = _run(tmp_path / "a", {"compressed": [1, 0]})
    with pytest.raises(ValueError, match="share no question id"):
        paired_difference(load_arm(f"compressed@{a}")[1], {"other": {"accuracy": 1.0}})
    assert main([f"x=compressed@{a}", f"y=compressed@{a}", "--scores", "accuracy"]) == 0
    assert "y - x" in capsys.readouterr().out
