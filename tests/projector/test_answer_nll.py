import math

import pytest
import torch
from tiny_projector import make_projector

from projector.answer_nll import answer_nll, nll_recovery
from projector.data import paraphrase_examples
from projector.train import TrainConfig, Trainer


def test_compressed_view_equals_training_nll(tiny_llm, table, examples, tmp_path):
    """The evaluation's compressed view is exactly the training loss's student view (one prompt path)."""
    proj = make_projector(tiny_llm).eval()
    qa = [ex for ex in examples if ex.question is not None][:4]
    trainer = Trainer(proj, tiny_llm, table, qa, TrainConfig(batch_size=4), tmp_path)
    with torch.no_grad():
        expected = trainer.loss([], qa, with_kl=False)[1]["nll"]
    assert answer_nll(tiny_llm, table, qa, "compressed", proj, batch_size=4, progress=False) == pytest.approx(
        expected, rel=1e-5)


def test_views_differ_and_are_finite(tiny_llm, table, examples):
    qa = [ex for ex in examples if ex.question is not None][:4]
    closed = answer_nll(tiny_llm, table, qa, "closed_book", progress=False)
    full = answer_nll(tiny_llm, table, qa, "full_text", progress=False)
    assert math.isfinite(closed) and math.isfinite(full) and closed != full
    with pytest.raises(ValueError, match="needs a projector"):
        answer_nll(tiny_llm, table, qa, "compressed", progress=False)


def test_reconstruction_views(tiny_llm, table, tmp_path):
    """Stage-1 examples get all three views; the compressed one is exactly the stage-1 training loss."""
    rec = paraphrase_examples(table, range(4), tiny_llm.tokenizer, max_target_tokens=8)
    proj = make_projector(tiny_llm).eval()
    trainer = Trainer(proj, tiny_llm, table, rec, TrainConfig(stage="paraphrase", batch_size=4), tmp_path)
    with torch.no_grad():
        expected = trainer.loss([], rec, with_kl=False)[1]["nll"]
    assert answer_nll(tiny_llm, table, rec, "compressed", proj, batch_size=4, progress=False) == pytest.approx(
        expected, rel=1e-5)
    closed = answer_nll(tiny_llm, table, rec, "closed_book", progress=False)
    full = answer_nll(tiny_llm, table, rec, "full_text", progress=False)
    assert math.isfinite(closed) and math.isfinite(full) and closed != full


def test_nll_recovery():
    assert nll_recovery(4.0, 3.0, 2.0) == 0.5
    assert nll_recovery(4.0, 2.0, 2.0) == 1.0
    assert math.isnan(nll_recovery(2.0, 2.0, 3.0))
