"""``squeezerag train-wordpieces``: its flags reach the recipe's config (the recipe itself is tested on its own)."""

import pytest

from rag.cli import main


@pytest.fixture
def recipe_config(monkeypatch):
    seen = []
    monkeypatch.setattr("projector.wordpiece_recipe.run_wordpiece_recipe",
                        lambda config, out, progress, until: seen.append(config) or out)
    return seen


def test_prompt_layout_seed_and_validation_flags_reach_the_recipe(recipe_config, tmp_path, capsys):
    assert main(["train-wordpieces", "--out", str(tmp_path), "--encoding", "reader_tokens", "--reading-prompt", "16",
                 "--closing-prompt", "4", "--answer-prompt", "8", "--seed", "2", "--val-questions", "32",
                 "--no-val-accuracy", "--init-from", "p", "--merge-tokens", "2", "--copy-bias", "2", "--teacher-targets", "right",
                 "--quiet"]) == 0
    (config,) = recipe_config
    assert (config.reading_prompt, config.closing_prompt, config.answer_prompt) == (16, 4, 8)
    assert config.merge_tokens == 2 and config.init_from == "p" and config.teacher_targets == "right"
    assert config.distill.seed == config.align.seed == 2
    assert config.distill.val_questions == 32 and not config.distill.val_accuracy and config.distill.copy_bias == 2.0
    assert str(tmp_path) in capsys.readouterr().out


def test_a_negative_copy_bias_is_refused(recipe_config, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train-wordpieces", "--out", str(tmp_path), "--copy-bias", "-1"])
    assert "not a logit bonus" in capsys.readouterr().err and not recipe_config


def test_defaults_answer_the_validation_questions(recipe_config, tmp_path):
    assert main(["train-wordpieces", "--out", str(tmp_path), "--quiet"]) == 0
    assert recipe_config[0].distill.val_accuracy and recipe_config[0].distill.val_questions == 64
    assert recipe_config[0].answer_prompt == recipe_config[0].closing_prompt == 0
    assert recipe_config[0].merge_tokens == 1 and recipe_config[0].distill.copy_bias == 0.0
    assert recipe_config[0].teacher_targets == ""  # the gold span


def test_a_prompt_layout_that_cannot_work_is_refused_before_training(recipe_config, tmp_path, capsys):
    assert main(["train-wordpieces", "--out", str(tmp_path), "--encoding", "reader_tokens", "--reading-prompt", "4",
                 "--answer-prompt", "5", "--quiet"]) != 0
    assert "--answer-prompt 5" in capsys.readouterr().err and not recipe_config
