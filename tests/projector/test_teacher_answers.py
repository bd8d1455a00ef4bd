import json

import pytest

from eval.records import QARecord
from indexer.hit import Hit
from projector.teacher_answers import cached_teacher_answers, text_teacher_answers, with_teacher_targets
from projector.window_distill import window_examples
from projector.wordpiece_recipe import WordpieceRecipeConfig
from rag.selection import WindowConfig

PASSAGES = ["The Eiffel Tower was completed in 1889 in Paris.", "Berlin is the capital of Germany."]


@pytest.fixture
def examples(tiny_embedder):
    records = [QARecord("0", "When was the Eiffel Tower completed?", ["1889", "in 1889"]),
               QARecord("1", "What is the capital of Germany?", ["Berlin"]),
               QARecord("2", "Where is the Eiffel Tower?", ["Paris"])]
    hits = [[Hit(str(j), "", t) for j, t in enumerate(PASSAGES)]] * len(records)
    return window_examples(tiny_embedder, None, records, hits, WindowConfig(width=1000), progress=False)


def test_right_takes_the_teacher_answers_that_hold_the_gold_and_accuracy_still_reads_the_gold(examples):
    answers = ["It was completed in 1889.", "The capital is Bonn.", "  "]
    right, changed = with_teacher_targets(examples, answers, "right")
    assert changed == 1 and [e.answer for e in right] == ["It was completed in 1889.", "Berlin", "Paris"]
    assert [e.gold_answers for e in right] == [e.gold_answers for e in examples] == [["1889", "in 1889"], ["Berlin"],
                                                                                     ["Paris"]]
    everything, changed = with_teacher_targets(examples, answers, "all")
    assert changed == 2 and [e.answer for e in everything] == ["It was completed in 1889.", "The capital is Bonn.",
                                                               "Paris"]  # an empty answer teaches nothing
    assert everything[1].gold_answers == ["Berlin"]


def test_bad_teacher_targets_are_refused(examples):
    with pytest.raises(ValueError, match="one of"):
        with_teacher_targets(examples, ["a", "b", "c"], "some")
    with pytest.raises(ValueError, match="2 teacher answers for 3 examples"):
        with_teacher_targets(examples, ["a", "b"], "all")
    with pytest.raises(ValueError, match="--teacher-targets gold"):
        WordpieceRecipeConfig(dataset="unused.json", teacher_targets="gold")


def test_teacher_answers_are_cached_for_the_same_questions_and_windows_only(examples, tiny_llm, tmp_path,
                                                                           monkeypatch):
    path = tmp_path / "teacher_answers.json"
    first = cached_teacher_answers(tiny_llm, examples, path, batch_size=2, progress=False)
    assert first == text_teacher_answers(tiny_llm, examples, batch_size=3, progress=False)  # batching changes nothing
    calls = []
    monkeypatch.setattr("projector.teacher_answers.text_teacher_answers",
                        lambda llm, es, batch_size, progress: calls.append(len(es)) or ["x"] * len(es))
    assert cached_teacher_answers(tiny_llm, examples, path, progress=False) == first and not calls
    assert cached_teacher_answers(tiny_llm, examples[:2], path, progress=False) == ["x", "x"] and calls == [2]
    assert json.loads(path.read_text())["answers"] == ["x", "x"]  # rewritten for the new questions
