import logging

import pytest

from rag.cli import build_parser
from rag.cli_window_args import window_config, window_scorer_dir

FLAGS = ["--window-width", "12", "--window-allocation", "global", "--windows", "4", "--window-scorer", "none"]


def test_ask_and_bench_read_the_window_flags_the_same_way():
    ask = build_parser().parse_args(["ask", "Who?", *FLAGS])
    bench = build_parser().parse_args(["bench", "--dataset", "d.json", "--corpus-from-dataset", *FLAGS])
    assert window_config(ask) == window_config(bench)
    assert (window_config(ask).width, window_config(ask).windows) == (12, 4)
    assert window_scorer_dir(ask) is None and window_scorer_dir(bench) is None


def test_auto_scorer_is_the_shipped_one_except_for_another_embedder(monkeypatch, caplog):
    monkeypatch.setattr("rag.demo_index.default_window_scorer_dir", lambda: "shipped")
    args = build_parser().parse_args(["ask", "Who?"])
    assert args.window_scorer == "auto" and window_scorer_dir(args) == "shipped"
    with caplog.at_level(logging.WARNING):
        assert window_scorer_dir(args, custom_embedder=True) is None
    assert "train-windows" in caplog.text
    assert window_scorer_dir(build_parser().parse_args(["ask", "Who?", "--window-scorer", "my/scorer"])) == "my/scorer"


def test_a_window_budget_without_global_allocation_is_refused():
    args = build_parser().parse_args(["ask", "Who?", "--windows", "4", "--window-allocation", "per_passage"])
    with pytest.raises(ValueError, match="global"):
        window_config(args).resolved(True)
