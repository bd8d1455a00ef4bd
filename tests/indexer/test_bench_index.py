"""eval.bench_index: the search part runs small and fast; the table prints."""

from __future__ import annotations

from eval.bench_index import BenchResult, BuildTiming, bench_search, format_result


def test_search_bench_and_table() -> None:
    timing = bench_search("HNSW32", 2000, dim=16, queries=5)
    assert timing.rows == 2000 and 0 < timing.p50_ms <= timing.p99_ms
    result = BenchResult(BuildTiming(10, 12, 4, build_s=1.1, encode_s=1.0), [timing])
    table = format_result(result)
    assert "+10.0 %" in table and "HNSW32" in table
    assert result.to_dict()["build"]["overhead_pct"] > 9.9
