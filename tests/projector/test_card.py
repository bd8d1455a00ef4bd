import json

from tiny_projector import make_projector

from projector.card import lineage, write_card


def _fake_run(run, tiny_llm, stages: dict, init_from=None, sources=("squad",)):
    """A run directory as `squeezerag train` leaves it: recipe.json, per-stage history, final/."""
    recipe = {"stage1": {"lr": 1e-3, "batch_size": 8}, "stage2": {"lr": 5e-4, "batch_size": 8, "kl_weight": 2.0},
              "llm_dtype": None, "seed": 0, "sources": list(sources), "init_from": init_from}
    proj = make_projector(tiny_llm)
    proj.config.training = {"recipe": recipe, "data_counts": {"squad": 12, "description": 3},
                            "val_articles": ["Normans"]}
    proj.save_pretrained(run / "final")
    (run / "recipe.json").write_text(json.dumps(recipe))
    for stage, (steps, loss) in stages.items():
        (run / stage).mkdir()
        rows = [{"step": steps, "loss_avg": loss, "s_per_step": 1.5},
                {"step": steps, "val_nll": loss, "val_em": 0.1, "val_f1": 0.2, "val_acc": 0.3}]
        (run / stage / "history.jsonl").write_text("\n".join(json.dumps(r) for r in rows))


def test_model_card_lists_data_steps_and_validation(tiny_llm, tmp_path):
    run = tmp_path / "run"
    _fake_run(run, tiny_llm, {"stage1": (10, 3.0), "stage2": (10, 2.0)})
    out = write_card(run, tmp_path / "card", command="squeezerag train --out x")
    card = (out / "README.md").read_text()
    assert "| squad | 12 |" in card and "Normans" in card and "squeezerag train --out x" in card
    assert "| run | stage2 | 20 | 2.000 | 0.100 | 0.200 | 0.300 |" in card
    assert "10 stage-1 steps and 10 stage-2 steps" in card
    assert (out / "loss.png").stat().st_size > 0 and (out / "model.safetensors").exists()


def test_card_follows_init_from_to_the_ancestor_stages(tiny_llm, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _fake_run(first, tiny_llm, {"stage1": (6, 3.0), "stage2": (4, 2.5)})
    _fake_run(second, tiny_llm, {"stage2": (30, 2.0)}, init_from=str(first / "stage1" / "checkpoint"),
              sources=("squad", "teacher"))
    assert lineage(second) == [(first, ("stage1",)), (second, ("stage2",))]
    card = (write_card(second, tmp_path / "card", command="c") / "README.md").read_text()
    assert "6 stage-1 steps and 30 stage-2 steps" in card
    assert "| second | stage2 | 36 | 2.000 |" in card and "squad, teacher" in card


def test_card_follows_init_from_through_a_shipped_folder(tiny_llm, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _fake_run(first, tiny_llm, {"stage1": (6, 3.0), "stage2": (4, 2.5)})
    shipped = write_card(first, tmp_path / "shipped", command="c")
    _fake_run(second, tiny_llm, {"stage2": (30, 2.0)}, init_from=str(shipped))
    assert lineage(second) == [(first, ("stage1", "stage2")), (second, ("stage2",))]


def test_shipping_over_the_ancestor_folder_keeps_the_lineage(tiny_llm, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _fake_run(first, tiny_llm, {"stage1": (6, 3.0), "stage2": (4, 2.5)})
    shipped = write_card(first, tmp_path / "shipped", command="c")
    _fake_run(second, tiny_llm, {"stage2": (30, 2.0)}, init_from=str(shipped))
    card = (write_card(second, shipped, command="c") / "README.md").read_text()  # replaces its own parent
    assert "6 stage-1 steps and 34 stage-2 steps" in card
    assert lineage(second) == [(second, ("stage2",))]  # the folder now points at `second` itself: no loop
