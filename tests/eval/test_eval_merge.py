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
    rows = {cells[0]: cells[1:] for line in table.splitlines() if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}
    assert rows["seg"][:4] + rows["seg"][5:] == ["0.250", "0.250", "0.250", "0.50", "0.50", "8.0", "100"]
    # a paired bootstrap over the 4 questions: the interval holds the estimate and stays within [0, 1]
    low, high = map(float, rows["seg"][4].split("–"))
    assert 0.0 <= low <= 0.5 <= high <= 1.0 and low < high
    # an arm that answers exactly like full text recovers 1.00 in every resample
    assert rows["pooled"][3:] == ["1.00", "1.00–1.00", "1.00", "8.0", "100"]
    assert rows["full_text@a"][4] == ""  # the references get no interval
