"""A tiny *real* RAG (random tiny embedder, index, LLM and projector) through ``run_benchmark``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.records import QARecord
from eval.runner import ALL_MODES, OUTPUT_FILES, run_benchmark

pytestmark = pytest.mark.slow


def _predictions(folder: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(r["id"], r["mode"], r["prediction"], r["retrieved"]["ids"], r["context_tokens"]) for r in rows]


def test_tiny_real_rag_benchmark(tmp_path: Path, tiny_rag: Any, tiny_records: list[QARecord]) -> None:
    kwargs = dict(modes=ALL_MODES, k=2, limit=5, seed=1, batch_size=2, progress=False, n_bootstrap=50)
    result = run_benchmark(tiny_rag, tiny_records, out_dir=tmp_path / "a", **kwargs)
    for name in OUTPUT_FILES:
        assert (tmp_path / "a" / name).stat().st_size > 0, name
    assert result.config["skipped_modes"] == {}
    assert len(result.predictions) == 5 * len(ALL_MODES)
    full, comp = result.predictions_for("full_text"), result.predictions_for("compressed")
    assert [r["retrieved"] for r in full] == [r["retrieved"] for r in comp]
    assert all(r["context_tokens"] == 2 * 4 * 2 for r in comp)  # k passages x 4 segments x 2 tokens
    assert all(r["context_tokens"] > 0 for r in full)
    assert all(r["retrieved"]["rows"] == [-1] for r in result.predictions_for("oracle_compressed"))
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["rag"]["projector"]["fingerprint"] and config["llm_shape"]["n_layers"] == 2
    run_benchmark(tiny_rag, tiny_records, out_dir=tmp_path / "b", **kwargs)
    assert _predictions(tmp_path / "a") == _predictions(tmp_path / "b")


def test_dataset_index_is_built_then_reused(tmp_path: Path, tiny_embedder: Any,
                                            tiny_records: list[QARecord]) -> None:
    from eval.dataset_index import dataset_index

    index = dataset_index(tiny_records, embedder=tiny_embedder, encodings=("segments:4",),
                          cache_root=tmp_path / "idx", progress=False)
    assert len(index) >= len(tiny_records) and "segments:4" in index.memory_encodings
    again = dataset_index(tiny_records, embedder=tiny_embedder, cache_root=tmp_path / "idx", progress=False)
    assert len(again) == len(index)
