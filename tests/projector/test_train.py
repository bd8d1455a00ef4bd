import torch
from tiny_projector import make_projector

from projector.data import paraphrase_examples
from projector.train import TrainConfig, Trainer, seed_everything


def test_one_step_lowers_loss_on_fixed_batch(tiny_llm, table, examples, tmp_path):
    seed_everything(0)
    trainer = Trainer(make_projector(tiny_llm), tiny_llm, table, examples, TrainConfig(lr=1e-2, batch_size=6,
                      warmup_steps=1), tmp_path)
    idx = list(range(6))
    before = trainer.loss(idx)[0].item()
    trainer.projector.train()
    loss, _ = trainer.loss(idx)
    trainer.optimizer.zero_grad()
    loss.backward()
    trainer.optimizer.step()
    after = trainer.loss(idx)[0].item()
    assert after < before
    assert all(p.grad is None for p in tiny_llm.model.parameters())


def test_paraphrase_stage_trains(tiny_llm, table, tmp_path):
    exs = paraphrase_examples(table, range(len(table)), tiny_llm.tokenizer, max_target_tokens=8)
    trainer = Trainer(make_projector(tiny_llm), tiny_llm, table, exs,
                      TrainConfig(stage="paraphrase", batch_size=3, epochs=1), tmp_path)
    history = trainer.fit(progress=False)
    assert trainer.step == 2 and any("loss" in h for h in history)


def test_resume_from_checkpoint_reaches_same_state(tiny_llm, table, examples, tmp_path):
    cfg = TrainConfig(batch_size=2, epochs=2, checkpoint_every=2, lr=1e-2, warmup_steps=1)
    seed_everything(0)
    straight = Trainer(make_projector(tiny_llm, dropout=0.1), tiny_llm, table, examples, cfg, tmp_path / "a")
    straight.fit(progress=False)

    seed_everything(0)
    first = Trainer(make_projector(tiny_llm, dropout=0.1), tiny_llm, table, examples, cfg, tmp_path / "b")
    first.fit(progress=False, until=3)  # stop part-way, as a killed run would
    assert first.step == 3
    seed_everything(123)  # a resumed process starts with other RNG state
    resumed = Trainer(make_projector(tiny_llm, dropout=0.1), tiny_llm, table, examples, cfg, tmp_path / "b")
    resumed.fit(progress=False)
    assert resumed.step == straight.step == 6
    for (k, a), (_, b) in zip(straight.projector.state_dict().items(), resumed.projector.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


def test_zero_step_stage_trains_nothing(tiny_llm, table, examples, tmp_path):
    proj = make_projector(tiny_llm)
    before = proj.fingerprint()
    trainer = Trainer(proj, tiny_llm, table, examples, TrainConfig(max_steps=0), tmp_path)
    assert trainer.total_steps == 0
    trainer.fit(progress=False)
    assert proj.fingerprint() == before


def test_recipe_config_json_round_trip(tmp_path):
    import json
    from dataclasses import asdict

    from projector.recipe import RecipeConfig

    cfg = RecipeConfig(squad_path="x.json", sources=("squad", "teacher"), init_from="w",
                       stage2=TrainConfig(stage="qa", lr=3e-4, max_steps=7))
    (tmp_path / "recipe.json").write_text(json.dumps(asdict(cfg)))
    assert RecipeConfig.from_json(tmp_path / "recipe.json") == cfg
