import threading

import pytest
import torch
from tiny_llm import make_tiny_llm
from tiny_projector import make_projector

from projector.config import WORDPIECES
from projector.model import Projector
from projector.reader_adapter import ReaderAdapter, reader_adapter_spec
from rag.errors import ProjectorMismatchError

IDS = torch.tensor([[5, 9, 13, 2, 7]])


def _logits(llm) -> torch.Tensor:
    with torch.no_grad():
        return llm.model(input_ids=IDS).logits


def _trained(spec: dict, seed: int = 0) -> ReaderAdapter:
    """An adapter whose deltas are not zero (as after training)."""
    torch.manual_seed(seed)
    adapter = ReaderAdapter(spec)
    for delta in adapter.deltas.values():
        torch.nn.init.normal_(delta.up.weight, std=0.5)
    return adapter


def test_the_spec_names_every_targeted_linear_with_its_shape(tiny_llm):
    spec = reader_adapter_spec(tiny_llm.model, rank=4, targets=("q_proj", "v_proj"))
    n_layers = tiny_llm.model.config.num_hidden_layers
    assert len(spec["modules"]) == 2 * n_layers and spec["rank"] == 4 and spec["alpha"] == 8.0
    assert all(name.endswith(("q_proj", "v_proj")) and len(shape) == 2 for name, shape in spec["modules"].items())
    with pytest.raises(ValueError, match="no nn.Linear named"):
        reader_adapter_spec(tiny_llm.model, rank=4, targets=("nothing",))
    with pytest.raises(ValueError, match=r"no nn.Linear named \['gate_prj'\]"):  # one misspelt target of two
        reader_adapter_spec(tiny_llm.model, rank=4, targets=("q_proj", "gate_prj"))
    with pytest.raises(ValueError, match="rank is >= 1"):
        reader_adapter_spec(tiny_llm.model, rank=0)


def test_a_new_adapter_changes_nothing_and_a_trained_one_only_inside_its_block(tiny_llm):
    spec = reader_adapter_spec(tiny_llm.model, rank=4)
    plain = _logits(tiny_llm)
    with ReaderAdapter(spec).attached(tiny_llm.model):
        assert torch.equal(_logits(tiny_llm), plain)  # up starts at zero: exactly the LLM as loaded
    with _trained(spec).attached(tiny_llm.model):
        adapted = _logits(tiny_llm)
    assert not torch.allclose(adapted, plain, atol=1e-4)
    assert torch.equal(_logits(tiny_llm), plain)  # removed on leaving the block
    adapter = _trained(spec)
    with adapter.attached(tiny_llm.model):
        assert torch.equal(_logits(tiny_llm), adapted)  # the same deltas, the same reading
        with pytest.raises(RuntimeError, match="already attached"), adapter.attached(tiny_llm.model):
            pass
        assert torch.equal(_logits(tiny_llm), adapted)  # the refused second block added nothing
    assert torch.equal(_logits(tiny_llm), plain)


def test_dropout_acts_in_training_only_and_adds_no_weights(tiny_llm):
    plain_spec = reader_adapter_spec(tiny_llm.model, rank=4)
    spec = reader_adapter_spec(tiny_llm.model, rank=4, dropout=0.5)
    assert "dropout" not in plain_spec and spec == {**plain_spec, "dropout": 0.5}  # old adapters keep their config
    with pytest.raises(ValueError, match=r"dropout is a probability in \[0, 1\)"):
        reader_adapter_spec(tiny_llm.model, rank=4, dropout=1.0)
    adapter, reference = _trained(spec), _trained(plain_spec)
    assert adapter.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(adapter.state_dict())
    with reference.attached(tiny_llm.model):
        expected = _logits(tiny_llm)
    with adapter.eval().attached(tiny_llm.model):
        assert torch.equal(_logits(tiny_llm), expected)  # reading: the deltas as trained, nothing dropped
    torch.manual_seed(0)
    with adapter.train().attached(tiny_llm.model):
        assert not torch.allclose(_logits(tiny_llm), expected, atol=1e-4)


def test_another_thread_reads_with_the_llm_as_loaded(tiny_llm):
    plain, seen = _logits(tiny_llm), {}
    with _trained(reader_adapter_spec(tiny_llm.model, rank=4)).attached(tiny_llm.model):
        worker = threading.Thread(target=lambda: seen.update(logits=_logits(tiny_llm)))
        worker.start()
        worker.join()
        assert not torch.allclose(_logits(tiny_llm), plain, atol=1e-4)
    assert torch.equal(seen["logits"], plain)


def test_an_llm_of_another_shape_is_refused(tiny_llm):
    other = make_tiny_llm("qwen2")
    spec = reader_adapter_spec(tiny_llm.model, rank=4)
    spec["modules"] = {name: [d_in, d_out + 1] for name, (d_in, d_out) in spec["modules"].items()}
    with pytest.raises(ProjectorMismatchError, match="does not fit this LLM"):
        with ReaderAdapter(spec).attached(other.model):
            pass
    assert torch.equal(_logits(other), _logits(other))  # nothing was left attached


def _window_projector(llm, adapter: bool) -> Projector:
    torch.manual_seed(0)
    spec = reader_adapter_spec(llm.model, rank=2) if adapter else {}
    return make_projector(llm, tokens_per_vector=1, memory_encoding=WORDPIECES, reader_adapter=spec)


def test_a_projector_saves_and_loads_its_adapter_and_a_plain_one_continues_into_one(tiny_llm, tmp_path):
    adapted = _window_projector(tiny_llm, adapter=True)
    for delta in adapted.reader_adapter.deltas.values():
        torch.nn.init.normal_(delta.up.weight)
    adapted.save_pretrained(tmp_path / "adapted")
    loaded = Projector.from_pretrained(tmp_path / "adapted")
    assert loaded.fingerprint() == adapted.fingerprint()
    with loaded.reading(tiny_llm):
        from_disk = _logits(tiny_llm)
    with adapted.reading(tiny_llm):
        assert torch.equal(_logits(tiny_llm), from_disk)

    plain = _window_projector(tiny_llm, adapter=False)
    plain.save_pretrained(tmp_path / "plain")
    fresh = _window_projector(tiny_llm, adapter=True)
    with pytest.raises(ProjectorMismatchError):
        fresh.load_weights_from(tmp_path / "plain")  # strict: an adapter's weights are missing there
    fresh.load_weights_from(tmp_path / "plain", continuing=True)  # the new adapter keeps its zero start
    assert torch.equal(fresh.net[1].weight, plain.net[1].weight)
    with fresh.reading(tiny_llm):
        assert torch.equal(_logits(tiny_llm), _logits(make_tiny_llm("llama")))
    with plain.reading(tiny_llm):  # no adapter: the LLM as loaded
        assert torch.equal(_logits(tiny_llm), _logits(make_tiny_llm("llama")))


def test_only_window_projectors_take_an_adapter(tiny_llm):
    with pytest.raises(ValueError, match="window distillation"):
        make_projector(tiny_llm, reader_adapter=reader_adapter_spec(tiny_llm.model, rank=2))


def test_the_fingerprint_names_what_the_weights_compute_not_the_dropout_they_were_trained_with(tiny_llm):
    torch.manual_seed(0)
    plain = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding=WORDPIECES,
                           reader_adapter=reader_adapter_spec(tiny_llm.model, rank=2))
    dropped = make_projector(tiny_llm, tokens_per_vector=1, memory_encoding=WORDPIECES,
                             reader_adapter=reader_adapter_spec(tiny_llm.model, rank=2, dropout=0.1))
    dropped.load_state_dict(plain.state_dict())
    assert dropped.config.reader_adapter != plain.config.reader_adapter
    assert dropped.fingerprint() == plain.fingerprint()
    torch.nn.init.normal_(next(iter(dropped.reader_adapter.deltas.values())).up.weight)
    assert dropped.fingerprint() != plain.fingerprint()
