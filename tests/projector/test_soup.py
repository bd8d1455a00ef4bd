import pytest
import torch
from tiny_projector import adapted_window_projector

from projector.soup import average_projectors

IDS = torch.tensor([[5, 9, 13, 2, 7]])


def test_the_soups_adapter_adds_exactly_the_mean_of_the_ingredients_deltas(tiny_llm):
    a, b = adapted_window_projector(tiny_llm, 0), adapted_window_projector(tiny_llm, 1)
    soup = average_projectors([a, b], ["a", "b"])
    assert soup.config.reader_adapter["rank"] == 4
    assert soup.config.training["averaged_from"] == ["a", "b"]
    x = torch.randn(3, tiny_llm.hidden_size)
    with torch.no_grad():
        for key, delta in soup.reader_adapter.deltas.items():
            mean = (a.reader_adapter.deltas[key](x) + b.reader_adapter.deltas[key](x)) / 2
            assert torch.allclose(delta(x), mean, atol=1e-6)
            # averaging the factors instead would not give the mean delta (the seeds' down matrices differ)
            naive = (a.reader_adapter.deltas[key].up.weight + b.reader_adapter.deltas[key].up.weight) / 2 @ (
                (a.reader_adapter.deltas[key].down.weight + b.reader_adapter.deltas[key].down.weight) / 2)
            assert not torch.allclose(x @ naive.T * delta.scale, mean, atol=1e-3)
        assert torch.allclose(soup.net[1].weight, (a.net[1].weight + b.net[1].weight) / 2)


def test_a_projector_averaged_with_itself_reads_as_it_does(tiny_llm):
    a = adapted_window_projector(tiny_llm, 0)
    soup = average_projectors([a, a], ["a", "a"])
    memory = torch.randn(1, 4, a.config.d_embed)
    with torch.no_grad():
        assert torch.allclose(soup(memory), a(memory), atol=1e-6)
        with soup.reading(tiny_llm):
            soup_logits = tiny_llm.model(input_ids=IDS).logits
        with a.reading(tiny_llm):
            assert torch.allclose(tiny_llm.model(input_ids=IDS).logits, soup_logits, atol=1e-5)


def test_projectors_of_different_architectures_or_fewer_than_two_are_refused(tiny_llm):
    a, wide = adapted_window_projector(tiny_llm, 0), adapted_window_projector(tiny_llm, 1, hidden=48)
    with pytest.raises(ValueError, match=r"runs/wide differs from runs/a in \['hidden'\]"):
        average_projectors([a, wide], ["runs/a", "runs/wide"])
    with pytest.raises(ValueError, match="two or more"):
        average_projectors([a], ["runs/a"])


def test_ingredients_trained_with_and_without_adapter_dropout_average_and_the_soup_has_none(tiny_llm):
    plain, dropped = adapted_window_projector(tiny_llm, 0), adapted_window_projector(tiny_llm, 1, dropout=0.1)
    soup = average_projectors([dropped, plain], ["runs/dropped", "runs/plain"])
    assert "dropout" not in soup.config.reader_adapter
    assert soup.config.reader_adapter["rank"] == 4
    x = torch.randn(3, tiny_llm.hidden_size)
    soup.train()  # no dropout left to act, even in training mode
    with torch.no_grad():
        for key, delta in soup.reader_adapter.deltas.items():
            mean = (dropped.reader_adapter.deltas[key](x) + plain.reader_adapter.deltas[key](x)) / 2
            assert torch.allclose(delta(x), mean, atol=1e-6)
