import json

from rag.window_recipe import WindowRecipeConfig, run_window_recipe
from rag.window_scorer import WindowScorer
from rag.window_training import WindowTrainConfig


def _squad_file(path, records):
    """SQuAD JSON with three articles; each paragraph's question asks for its last word."""
    data = []
    for a in range(3):
        paragraphs = []
        for r in records[a * 6:(a + 1) * 6]:
            answer = r["text"].rstrip(".").split()[-1]
            paragraphs.append({"context": r["text"], "qas": [{
                "id": r["id"], "question": f"What about {r['title']}?",
                "answers": [{"text": answer, "answer_start": r["text"].rfind(answer)}]}]})
        data.append({"title": f"Article_{a}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    return path


def test_recipe_trains_reports_and_ships_a_loadable_scorer(tmp_path, tiny_embedder_dir, tiny_corpus_records):
    dataset = _squad_file(tmp_path / "squad.json", tiny_corpus_records)
    config = WindowRecipeConfig(dataset=str(dataset), val_articles=("Article_1",), held_out=("Article 2",),
                                embedder=str(tiny_embedder_dir), report_widths=(4,), negatives=1,
                                shape={"hidden": 8, "rank": 4, "kernel": 3},
                                train=WindowTrainConfig(epochs=1, batch_size=4, warmup_steps=1))
    final = run_window_recipe(config, tmp_path / "run", progress=False)
    scorer = WindowScorer.from_pretrained(final)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert set(report) == {"validation", "held_out"} and report["held_out"]["questions"] == 6
    assert 0.0 <= report["validation"]["W=4"]["scorer"] <= 1.0
    training = scorer.config.training
    assert training["train_questions"] == 6 and training["recipe"]["negatives"] == 1
    assert training["window_recall"] == report and len(training["history"]) == 1
    card = (final / "README.md").read_text()
    assert "Article_1" in card and "| held_out | 6 | 4 |" in card
