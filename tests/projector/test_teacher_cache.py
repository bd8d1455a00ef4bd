import torch
from tiny_projector import make_projector

from projector.data import Example
from projector.teacher_cache import TeacherCache
from projector.train import TrainConfig, Trainer, seed_everything


def _mixed_examples(examples):
    """Different prompt and target lengths, so batches are padded on both sides of the alignment."""
    longer = Example(passages=[0, 1, 2], target="a much longer answer than the others", question="Why?")
    return examples + [longer]


def test_entries_do_not_depend_on_batch_company(tiny_llm, table, examples):
    exs = _mixed_examples(examples)
    together = TeacherCache(None, tiny_llm, k=8).get(tiny_llm, table, exs)
    for ex, (logp, idx) in zip(exs, together):
        alone_logp, alone_idx = TeacherCache(None, tiny_llm, k=8).get(tiny_llm, table, [ex])[0]
        n_target = len(tiny_llm.tokenizer(ex.target, add_special_tokens=False).input_ids) + 1
        assert logp.shape == alone_logp.shape == (n_target, 8)
        torch.testing.assert_close(logp.float(), alone_logp.float(), atol=2e-3, rtol=0)
        assert torch.equal(idx[:, 0], alone_idx[:, 0])


def test_save_load_round_trip_and_identity_check(tiny_llm, table, examples, tmp_path):
    path = tmp_path / "teacher.safetensors"
    cache = TeacherCache(path, tiny_llm, k=8)
    cache.fill(tiny_llm, table, _mixed_examples(examples), batch_size=3, save_every=1, progress=False)
    loaded = TeacherCache(path, tiny_llm, k=8)
    assert loaded.entries.keys() == cache.entries.keys()
    for key, (logp, idx) in cache.entries.items():
        assert torch.equal(loaded.entries[key][0], logp) and torch.equal(loaded.entries[key][1], idx)
    assert TeacherCache(path, tiny_llm, k=4).entries == {}  # computed with another k: ignored, not misread


def test_persisted_cache_gives_the_same_loss(tiny_llm, table, examples, tmp_path):
    cfg = TrainConfig(batch_size=3, kl_top_k=8)
    proj = make_projector(tiny_llm)
    on_the_fly = Trainer(proj, tiny_llm, table, examples, cfg, tmp_path / "a")
    cache = TeacherCache(tmp_path / "t.safetensors", tiny_llm, k=8)
    cache.fill(tiny_llm, table, examples, batch_size=4, progress=False)
    from_disk = Trainer(proj, tiny_llm, table, examples, cfg, tmp_path / "b",
                        teacher=TeacherCache(tmp_path / "t.safetensors", tiny_llm, k=8))
    with torch.no_grad():
        a, b = on_the_fly.loss([0, 1, 2])[1], from_disk.loss([0, 1, 2])[1]
    assert abs(a["kl"] - b["kl"]) < 1e-3 and a["nll"] == b["nll"]


def test_fit_fills_the_cache_up_front(tiny_llm, table, examples, tmp_path):
    seed_everything(0)
    cache = TeacherCache(tmp_path / "t.safetensors", tiny_llm, k=8)
    trainer = Trainer(make_projector(tiny_llm), tiny_llm, table, examples, TrainConfig(batch_size=3, kl_top_k=8,
                      max_steps=1), tmp_path / "run", teacher=cache)
    trainer.fit(progress=False)
    assert len(TeacherCache(tmp_path / "t.safetensors", tiny_llm, k=8).entries) == len(examples)
