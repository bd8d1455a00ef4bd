"""The benchmark runner on a fake RAG: outputs, shared retrieval, determinism, skipped modes, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_fakes import FakeRAG, make_records

from eval.compare import compare_runs
from eval.errors import BenchmarkError
from eval.runner import ALL_MODES, OUTPUT_FILES, run_benchmark, select_records

EVERY_MODE = ALL_MODES


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


def _strip_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "timings"} for r in rows]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run_benchmark(FakeRAG(), make_records(), modes=EVERY_MODE, k=2, out_dir=tmp_path / "run", progress=False,
                  dataset={"path": "fake"}, n_bootstrap=200)
    return tmp_path / "run"


def test_writes_every_file(run_dir: Path) -> None:
    for name in OUTPUT_FILES:
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((run_dir / "config.json").read_text())
    for key in ("rag", "dataset", "k", "limit", "seed", "modes", "batch_size", "versions", "machine", "record_ids",
                "llm_shape"):
        assert key in config, key
    assert config["rag"]["llm"] == "fake-llm" and config["machine"]["cpu_count"]
    assert sorted(config["record_ids"]) == sorted(r.id for r in make_records())
    rows = _rows(run_dir)
    assert len(rows) == 8 * len(ALL_MODES)
    expected = {"id", "question", "mode", "prediction", "answers", "em", "f1", "accuracy", "context_tokens",
                "prompt_tokens", "new_tokens", "timings", "retrieved", "flops", "flops_parts"}
    assert expected <= set(rows[0])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["modes"]) == list(EVERY_MODE)
    report = (run_dir / "report.md").read_text()
    assert "## Quality" in report and "`oracle_compressed`" in report and "report.png" in report


def test_retrieval_once_and_identical_across_modes(tmp_path: Path) -> None:
    rag = FakeRAG()
    result = run_benchmark(rag, make_records(), modes=EVERY_MODE, k=3, progress=False, n_bootstrap=50,
                           warmup=False)
    assert rag.retrieve_calls == [(8, 3)]
    assert [mode for mode, _ in rag.answer_calls] == ["closed_book", "full_text", "selected_text", "compressed",
                                                      "full_text", "compressed"]  # oracle modes -> RAG modes
    # full_text, selected_text and compressed: the very same hits
    assert rag.answer_calls[1][1] is rag.answer_calls[2][1] is rag.answer_calls[3][1]
    full, comp = result.predictions_for("full_text"), result.predictions_for("compressed")
    assert [r["retrieved"] for r in full] == [r["retrieved"] for r in comp]
    assert all(len(r["retrieved"]["ids"]) == 3 for r in full)
    assert result.metrics["retrieval"]["shared_across_modes"] is True


def test_sources_that_differ_from_the_given_passages_raise() -> None:
    with pytest.raises(BenchmarkError, match="same retrieval"):
        run_benchmark(FakeRAG(shuffle_sources=True), make_records(), modes=("full_text", "compressed"), k=2,
                      progress=False)


def test_rerun_with_same_seed_gives_same_predictions(tmp_path: Path) -> None:
    for name in ("a", "b"):
        run_benchmark(FakeRAG(), make_records(), k=2, limit=5, seed=3, out_dir=tmp_path / name, progress=False,
                      n_bootstrap=50)
    assert _strip_timings(_rows(tmp_path / "a")) == _strip_timings(_rows(tmp_path / "b"))
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["record_ids"] == [r.id for r in select_records(make_records(), 5, 3)]
    assert len(config["record_ids"]) == 5


def test_limit_takes_first_n_after_seeded_shuffle() -> None:
    records = make_records()
    assert [r.id for r in select_records(records, 4, 0)] == [r.id for r in select_records(records, 4, 0)]
    assert [r.id for r in select_records(records, 4, 0)] != [r.id for r in select_records(records, 4, 1)]
    assert sorted(r.id for r in select_records(records, None, 0)) == sorted(r.id for r in records)


def test_no_projector_skips_compressed_modes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        result = run_benchmark(FakeRAG(with_projector=False), make_records(), modes=EVERY_MODE, k=2,
                               progress=False, n_bootstrap=50)
    assert set(result.config["skipped_modes"]) == {"compressed", "oracle_compressed"}
    assert "projector" in result.config["skipped_modes"]["compressed"]
    assert "Skipping mode 'compressed'" in caplog.text
    assert {r["mode"] for r in result.predictions} == {"closed_book", "full_text", "selected_text", "oracle"}


def test_oracle_modes_get_gold_hits() -> None:
    rag = FakeRAG()
    records = make_records()
    run_benchmark(rag, records, modes=("oracle", "oracle_compressed"), k=2, progress=False, n_bootstrap=50,
                  warmup=False)
    assert rag.retrieve_calls == []  # no retrieval mode, no retrieval
    by_id = {r.id: r for r in records}
    for _, passages in rag.answer_calls:
        for hits in passages:
            assert len(hits) == 1 and hits[0].row == -1 and hits[0].score == 1.0
            assert hits[0].text == by_id[hits[0].id].context


def test_oracle_skipped_without_contexts() -> None:
    records = make_records()
    records[0].context = None
    result = run_benchmark(FakeRAG(), records, modes=("closed_book", "oracle"), progress=False, n_bootstrap=50)
    assert "oracle" in result.config["skipped_modes"]


def test_metrics_match_hand_computation() -> None:
    result = run_benchmark(FakeRAG(), make_records(), k=1, progress=False, n_bootstrap=100)
    modes = result.metrics["modes"]
    acc = {m: modes[m]["accuracy"]["mean"] for m in ("closed_book", "full_text", "compressed")}
    assert acc["closed_book"] == pytest.approx(1 / 8)
    rows = result.predictions_for("full_text")
    assert acc["full_text"] == pytest.approx(sum(r["accuracy"] for r in rows) / 8)
    expected = (acc["compressed"] - acc["closed_book"]) / (acc["full_text"] - acc["closed_book"])
    assert modes["compressed"]["boost_recovery"]["accuracy"]["value"] == pytest.approx(expected, abs=1e-4)
    assert modes["compressed"]["resilience_rate"] is not None
    low, high = modes["full_text"]["accuracy"]["ci95"]
    assert low <= acc["full_text"] <= high
    assert modes["compressed"]["context_tokens_mean"] == 1.0
    assert modes["full_text"]["gflops_per_question"] > 0
    assert modes["full_text"]["throughput_qps"] > 0


def test_bad_arguments_name_the_fix() -> None:
    with pytest.raises(BenchmarkError, match="Fix"):
        run_benchmark(FakeRAG(), make_records(), modes=("bogus",), progress=False)
    with pytest.raises(BenchmarkError, match="Fix"):
        run_benchmark(FakeRAG(), [], progress=False)
    with pytest.raises(BenchmarkError, match="Fix"):
        run_benchmark(FakeRAG(), make_records(), k=0, progress=False)
    with pytest.raises(BenchmarkError, match="checkpoint_batches=0.*Fix"):
        run_benchmark(FakeRAG(), make_records(), checkpoint_batches=0, progress=False)


def test_compare_runs(tmp_path: Path, run_dir: Path) -> None:
    run_benchmark(FakeRAG(), make_records(), modes=("closed_book", "full_text"), k=1, limit=6,
                  out_dir=tmp_path / "other", progress=False, n_bootstrap=50)
    text = compare_runs(run_dir, tmp_path / "other")
    assert "| `full_text` | accuracy |" in text and "B − A" in text
    assert "WARNING" in text  # different question sets
    same = compare_runs(run_dir, run_dir)
    assert "Same questions" in same and "+0.000" in same
    with pytest.raises(BenchmarkError, match="not a benchmark run"):
        compare_runs(tmp_path, run_dir)


class InterruptedRAG(FakeRAG):
    """A FakeRAG that stops (raises) once it has answered ``budget`` questions, counting what it answers."""

    def __init__(self, budget: int | None = None) -> None:
        super().__init__()
        self.budget, self.answered = budget, 0

    def answer(self, questions, passages, mode, **kwargs):
        if self.budget is not None and self.answered + len(questions) > self.budget:
            raise KeyboardInterrupt("the machine went away")
        self.answered += len(questions)
        return super().answer(questions, passages, mode, **kwargs)


def _bench(rag: FakeRAG, out: Path, seed: int = 0) -> None:
    run_benchmark(rag, make_records(), modes=["closed_book", "full_text", "compressed"], k=2, seed=seed,
                  out_dir=out, batch_size=1, checkpoint_batches=3, progress=False, warmup=False, n_bootstrap=50)


def test_interrupted_run_resumes_with_the_same_predictions(tmp_path: Path) -> None:
    _bench(FakeRAG(), tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        _bench(InterruptedRAG(budget=13), tmp_path / "cut")  # 8 closed-book answers, then 1 chunk of 3 full-text
    assert not (tmp_path / "cut" / "predictions.jsonl").exists()
    resumed = InterruptedRAG()
    _bench(resumed, tmp_path / "cut")
    assert resumed.answered == 3 * 8 - 11  # only the chunks that were not finished
    assert _strip_timings(_rows(tmp_path / "cut")) == _strip_timings(_rows(tmp_path / "whole"))
    assert not (tmp_path / "cut" / "partial").exists()


def test_unfinished_run_of_another_benchmark_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        _bench(InterruptedRAG(budget=4), tmp_path / "run")
    kept = (tmp_path / "run" / "partial" / "closed_book.jsonl").read_text()
    with pytest.raises(BenchmarkError, match=r"differs in \['seed', 'selected'\].*delete"):
        _bench(FakeRAG(), tmp_path / "run", seed=1)
    assert (tmp_path / "run" / "partial" / "closed_book.jsonl").read_text() == kept
