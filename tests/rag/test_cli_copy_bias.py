import pytest

from rag.cli import build_parser


def test_ask_and_bench_read_the_copy_bias_flag_the_same_way():
    flags = ["--copy-bias", "2.5"]
    ask = build_parser().parse_args(["ask", "Who?", *flags])
    bench = build_parser().parse_args(["bench", "--dataset", "d.json", "--corpus-from-dataset", *flags])
    assert ask.copy_bias == bench.copy_bias == 2.5
    assert build_parser().parse_args(["ask", "Who?"]).copy_bias == 0.0


@pytest.mark.parametrize("value", ["-1", "nan", "two"])
def test_a_bias_that_is_not_a_logit_bonus_is_refused_naming_the_fix(value, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ask", "Who?", "--copy-bias", value])
    assert "pass 0 (off) or a positive number" in capsys.readouterr().err
