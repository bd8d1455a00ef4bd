import torch

from rag.window_allocation import allocate_windows, merge_spans, window_masses


def test_window_masses_sum_each_window():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    assert torch.allclose(window_masses(probs, 2), torch.tensor([0.3, 0.5, 0.7]))
    assert torch.allclose(window_masses(probs, 9), torch.tensor([1.0]))


def test_windows_go_where_the_joint_answer_mass_is():
    peak = torch.full((30,), -10.0)
    peak[[5, 20]] = 10.0  # two answer candidates in the first passage, none elsewhere
    flat = torch.zeros(25)
    spans = allocate_windows([peak, flat, flat.clone()], width=4)
    assert len(spans) == 3 and len(spans[0]) == 2 and len(spans[1]) + len(spans[2]) <= 1
    assert any(a <= 5 < b for a, b in spans[0]) and any(a <= 20 < b for a, b in spans[0])
    # never more windows, nor wordpieces, than one window of 4 per passage
    assert sum(len(s) for s in spans) <= 3 and sum(b - a for s in spans for a, b in s) <= 12
    for passage in spans:
        assert all(b <= c for (_, b), (c, _) in zip(passage, passage[1:]))  # sorted, no overlap


def test_short_passages_and_touching_windows():
    assert allocate_windows([torch.tensor([1.0, 2.0])], width=8) == [[(0, 2)]]
    assert allocate_windows([], width=8) == []
    assert merge_spans([(6, 9), (0, 3), (3, 5)]) == [(0, 5), (6, 9)]
