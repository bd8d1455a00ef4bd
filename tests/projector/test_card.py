import json

from tiny_projector import make_projector

from projector.card import write_card


def test_model_card_lists_data_steps_and_validation(tiny_llm, tmp_path):
    run = tmp_path / "run"
    proj = make_projector(tiny_llm)
    proj.config.training = {"recipe": {"stage1": {"lr": 1e-3, "batch_size": 8},
                                       "stage2": {"lr": 5e-4, "batch_size": 8, "kl_weight": 2.0},
                                       "llm_dtype": None, "seed": 0},
                            "data_counts": {"squad": 12, "description": 3}, "val_articles": ["Normans"]}
    proj.save_pretrained(run / "final")
    for stage, loss in (("stage1", 3.0), ("stage2", 2.0)):
        (run / stage).mkdir()
        rows = [{"step": 10, "loss_avg": loss, "s_per_step": 1.5},
                {"step": 10, "val_nll": loss, "val_em": 0.1, "val_f1": 0.2, "val_acc": 0.3}]
        (run / stage / "history.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    out = write_card(run, tmp_path / "card", command="squeezerag train --out x")
    card = (out / "README.md").read_text()
    assert "| squad | 12 |" in card and "Normans" in card and "squeezerag train --out x" in card
    assert "| stage2 | 10 | 2.000 | 0.100 | 0.200 | 0.300 |" in card
    assert (out / "loss.png").stat().st_size > 0 and (out / "model.safetensors").exists()
