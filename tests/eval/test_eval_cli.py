"""``squeezerag bench``: cheap registration, argument handling, compare, timing-only, a tiny full run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eval_fakes import FakeRAG, make_records

from eval import cli
from eval.archs import ARCHS
from eval.datasets import FORMATS
from eval.runner import ALL_MODES, run_benchmark

ROOT = Path(__file__).resolve().parents[2]


def test_registration_imports_nothing_heavy() -> None:
    code = ("import argparse, sys; from eval.cli import add_bench_parser; p = argparse.ArgumentParser(); "
            "add_bench_parser(p.add_subparsers()); "
            "heavy = [m for m in ('torch', 'transformers', 'numpy', 'datasets', 'matplotlib') "
            "if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_literal_choices_match_the_modules() -> None:
    assert cli.MODE_CHOICES == ALL_MODES
    assert cli.FORMAT_CHOICES == FORMATS
    assert set(cli.ARCH_CHOICES) == set(ARCHS)


def test_parser_defaults_and_handler() -> None:
    parser = argparse.ArgumentParser()
    cli.add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--dataset", "x.json", "--corpus-from-dataset"])
    assert args.func is cli.run_bench_command
    assert args.modes == ["closed_book", "full_text", "compressed"] and args.k is None and args.seed == 0
    with pytest.raises(SystemExit):  # --index and --corpus-from-dataset exclude each other
        parser.parse_args(["bench", "--dataset", "x", "--corpus-from-dataset", "--index", "dir"])


def test_errors_return_2_with_a_fix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["bench"]) == 2
    assert "Fix: pass --dataset" in capsys.readouterr().err
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q?", "answer": "a"}\n', encoding="utf-8")
    assert cli.main(["bench", "--dataset", str(data), "--k", "1", "2", "--quiet"]) == 2
    assert "one --k" in capsys.readouterr().err
    assert cli.main(["bench", "--dataset", str(data), "--projector", "none", "--quiet"]) == 2
    assert "--corpus-from-dataset" in capsys.readouterr().err


def test_compare_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name, limit in (("a", None), ("b", 4)):
        run_benchmark(FakeRAG(), make_records(), k=1, limit=limit, out_dir=tmp_path / name, progress=False,
                      n_bootstrap=20)
    assert cli.main(["bench", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "# Run comparison" in out and "`compressed`" in out and "WARNING" in out


def test_timing_only_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["bench", "--timing-only", "--arch", "tiny", "--k", "1", "2", "--new-tokens", "2", "--repeats", "1",
            "--doc-tokens", "16", "--out", str(tmp_path), "--quiet"]
    assert cli.main(argv) == 0
    assert "# Timing: tiny" in capsys.readouterr().out
    assert [r["k"] for r in json.loads((tmp_path / "timing.json").read_text())["ratios"]] == [1, 2]


@pytest.fixture
def tiny_llm_dir(tmp_path: Path) -> Path:
    from tiny_llm import make_tiny_llm

    llm = make_tiny_llm("llama")
    folder = tmp_path / "llm"
    llm.model.save_pretrained(folder)
    llm.tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_bench_corpus_from_dataset_end_to_end(tmp_path: Path, tiny_llm_dir: Path, tiny_embedder_dir: Path,
                                              tiny_rag: Any, tiny_records: list, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("SQUEEZERAG_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "qa.jsonl"
    rows: list[dict[str, Any]] = [
        {"id": f"r{i}", "question": f"Where is item {i}?", "answer": f"shelf {i}",
         "context": f"Item {i} is kept on shelf {i} of the archive.", "title": f"Item {i}"} for i in range(4)]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    argv = ["bench", "--dataset", str(data), "--corpus-from-dataset", "--llm", str(tiny_llm_dir), "--embedder",
            str(tiny_embedder_dir), "--projector", "none", "--modes", "closed_book", "full_text", "oracle",
            "--k", "2", "--limit", "3", "--batch-size", "2", "--max-new-tokens", "3", "--out",
            str(tmp_path / "run"), "--quiet"]
    assert cli.main(argv) == 0
    assert "Wrote config.json" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "bench-index").iterdir())) == 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["limit"] == 3 and config["dataset"]["corpus"] == "dataset contexts"
    assert cli.main(argv) == 0  # the cached index is reused
    assert len(list((tmp_path / "cache" / "bench-index").iterdir())) == 1
