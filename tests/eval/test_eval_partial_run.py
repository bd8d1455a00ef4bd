"""The partial-run store: chunks round-trip, a chunk cut short is dropped without losing the next one."""

from __future__ import annotations

from pathlib import Path

from eval.partial_run import PartialRun, merge_stats

STATS = {"wall_s": 1.5, "memory": {"rss_peak_mb": 100.0, "cuda_peak_mb": None}}


def test_chunks_round_trip_and_stats_merge(tmp_path: Path) -> None:
    run = PartialRun.open(tmp_path, {"k": 3})
    run.append("full_text", [0, 1], [{"id": "a"}, {"id": "b"}], STATS)
    run.append("full_text", [2], [{"id": "c"}], {"wall_s": 0.5, "memory": {"rss_peak_mb": 120.0, "cuda_peak_mb": None}})
    rows, stats = PartialRun.open(tmp_path, {"k": 3}).load("full_text")
    assert rows == {0: {"id": "a"}, 1: {"id": "b"}, 2: {"id": "c"}}
    assert stats == {"wall_s": 2.0, "memory": {"rss_peak_mb": 120.0, "cuda_peak_mb": None}}
    assert PartialRun.open(tmp_path, {"k": 3}).load("closed_book") == ({}, None)


def test_a_chunk_cut_short_is_answered_again_and_the_next_one_kept(tmp_path: Path) -> None:
    run = PartialRun.open(tmp_path, {"k": 3})
    run.append("compressed", [0], [{"id": "a"}], STATS)
    with open(run.directory / "compressed.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"positions": [1], "rows": [{"id"')  # the process died while writing
    run.append("compressed", [2], [{"id": "c"}], STATS)
    rows, _ = run.load("compressed")
    assert rows == {0: {"id": "a"}, 2: {"id": "c"}}


def test_merge_stats_keeps_missing_peaks_missing() -> None:
    merged = merge_stats(STATS, {"wall_s": 1.0, "memory": {"rss_peak_mb": 90.0, "cuda_peak_mb": None}})
    assert merged == {"wall_s": 2.5, "memory": {"rss_peak_mb": 100.0, "cuda_peak_mb": None}}
