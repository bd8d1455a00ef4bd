import json

from eval.merge import merge_table


def _run(path, mode_scores):
    path.mkdir()
    rows = []
    for mode, accs in mode_scores.items():
        for i, acc in enumerate(accs):
            rows.append({"id": f"q{i}", "mode": mode, "em": acc, "f1": acc, "accuracy": acc,
                         "context_tokens": {"closed_book": 0, "full_text": 300}.get(mode, 8),
                         "timings": {"ttft_s": 0.1}})
    (path / "predictions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_merge_computes_recovery_across_runs(tmp_path):
    a = _run(tmp_path / "a", {"closed_book": [0, 0, 0, 0], "full_text": [1, 1, 0, 0], "compressed": [1, 0, 0, 0]})
    b = _run(tmp_path / "b", {"compressed": [1, 1, 0, 0]})
    table = merge_table([f"seg=compressed@{a}", f"pooled=compressed@{b}"], f"closed_book@{a}", f"full_text@{a}")
    assert "4 questions" in table
    assert "| seg | 0.250 | 0.250 | 0.250 | 0.50 | 0.50 | 8.0 | 100 |" in table
    assert "| pooled | 0.500 | 0.500 | 0.500 | 1.00 | 1.00 | 8.0 | 100 |" in table
