import pytest
from test_eval_merge import _run

from eval.merge import load_arm
from eval.paired import answer_kind, by_answer_kind, main, paired_difference


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
    assert main([f"x=compressed@{a}", f"y=compressed@{a}", "--scores", "accuracy", "f1"]) == 0
    out = capsys.readouterr().out
    assert "y - x" in out and out.count("right only") == 1  # the accuracy flips, not repeated under F1


def test_runs_over_different_questions_pool_into_one_arm_and_a_shared_id_is_refused(tmp_path, capsys):
    a = _run(tmp_path / "a", {"compressed": [1, 0]})
    b = tmp_path / "b"
    b.mkdir()
    (b / "predictions.jsonl").write_text((a / "predictions.jsonl").read_text().replace('"q', '"second-q'))
    label, pooled = load_arm(f"compressed@{a}+{b}")
    assert label == "compressed@a+b" and sorted(pooled) == ["q0", "q1", "second-q0", "second-q1"]
    with pytest.raises(ValueError, match="share question ids"):
        load_arm(f"compressed@{a}+{a}")
    assert main([f"compressed@{a}+{b}", f"compressed@{b}+{a}", "--by-kind"]) == 0
    out = capsys.readouterr().out
    assert "on 4 questions, difference +0.000" in out and "other answers, accuracy" in out  # no answers: other


def test_answer_kinds_split_the_shared_questions(tmp_path):
    assert [answer_kind(x) for x in (["in 1775"], ["Paris", "paris"], ["oxygen"], [])] == [
        "digit", "capitalised", "other", "other"]
    a = load_arm(f"compressed@{_run(tmp_path / 'a', {'compressed': [1, 0, 0]})}")[1]
    for row, answers in zip(a.values(), (["1775"], ["Paris"], ["oxygen"])):
        row["answers"] = answers
    b = {i: {**row, "accuracy": 1} for i, row in a.items()}
    kinds = by_answer_kind(a, b)
    assert {k: sorted(rows_a) for k, (rows_a, _) in kinds.items()} == {
        "digit": ["q0"], "capitalised": ["q1"], "other": ["q2"]}
    assert paired_difference(*kinds["capitalised"]).difference == 1


def test_a_run_without_predictions_is_refused_with_the_file_it_lacks(tmp_path, capsys):
    a = _run(tmp_path / "a", {"compressed": [1, 0]})
    (tmp_path / "going" / "partial").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"going/predictions.jsonl does not exist: RUN is a finished"):
        load_arm(f"compressed@{tmp_path / 'going'}")
    with pytest.raises(SystemExit) as exit_info:
        main([f"compressed@{a}", f"compressed@{tmp_path / 'going'}"])
    assert exit_info.value.code == 2 and "predictions.jsonl does not exist" in capsys.readouterr().err
