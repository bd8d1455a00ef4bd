"""Timing-only benchmark on the ``tiny`` architecture, the architecture table and the FLOPs estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.archs import ARCHS, arch_config, check_fits, count_parameters
from eval.errors import TimingError
from eval.flops import ModelShape, llm_flops
from eval.timing import TimingConfig, prompt_length, render_timing, run_timing


def test_run_timing_tiny_writes_json_and_table(tmp_path: Path) -> None:
    config = TimingConfig(arch="tiny", ks=(1, 3), new_tokens=3, repeats=2, warmup=1, doc_tokens=20)
    result = run_timing(config, out_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "timing.json").read_text())
    assert saved["ratios"] == result["ratios"]
    assert [(p["mode"], p["k"]) for p in saved["points"]] == [("full_text", 1), ("compressed", 1),
                                                             ("full_text", 3), ("compressed", 3)]
    for point in saved["points"]:
        assert point["new_tokens"] == 3 and len(point["total_samples"]) == 2
        assert point["prompt_tokens"] == prompt_length(config, point["mode"], point["k"])
        assert 0 < point["ttft_s"] <= point["total_s"] * 1.5
    assert all(r["gflops"] > 1 for r in saved["ratios"])  # full text costs more FLOPs than soft tokens
    table = (tmp_path / "timing.md").read_text()
    assert "| 3 | 100 / 43 |" in table and table == render_timing(result)


def test_prompt_lengths() -> None:
    config = TimingConfig()
    assert prompt_length(config, "full_text", 5) == 5 * 180 + 40
    assert prompt_length(config, "compressed", 5) == 5 + 40


def test_timing_rejects_bad_settings() -> None:
    with pytest.raises(TimingError, match="Fix"):
        run_timing(TimingConfig(arch="gpt-5"), progress=False)
    with pytest.raises(TimingError, match="Fix"):
        run_timing(TimingConfig(arch="tiny", repeats=0), progress=False)


@pytest.mark.parametrize("arch, millions", [("mistral-7b", 7241.7), ("qwen2-7b", 7615.6), ("llama3-8b", 8030.3),
                                            ("smollm2-135m", 134.5)])
def test_real_shapes_match_published_sizes(arch: str, millions: float) -> None:
    assert count_parameters(arch) / 1e6 == pytest.approx(millions, abs=0.1)


def test_every_arch_builds_a_config() -> None:
    for arch in ARCHS:
        assert arch_config(arch).hidden_size == ARCHS[arch]["hidden_size"]


def test_check_fits_refuses_with_numbers() -> None:
    import torch

    with pytest.raises(TimingError, match="GiB"):
        check_fits("mistral-7b", 10**13, torch.device("cpu"), torch.float32)


def test_flops_formula() -> None:
    shape = ModelShape(n_params=100, n_layers=2, d_model=4)
    # T = 10 + 3 - 1 = 12 -> 2*100*12 + 2*4*12*13
    assert llm_flops(shape, prompt_tokens=10, new_tokens=3) == 2 * 100 * 12 + 2 * 4 * 12 * 13
    assert llm_flops(shape, prompt_tokens=10, new_tokens=0) == 2 * 100 * 10 + 2 * 4 * 10 * 11
