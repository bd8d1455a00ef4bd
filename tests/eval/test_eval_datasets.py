"""Loaders for every format (small files written here), sniffing, filters, corpus pooling, splits."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from eval.datasets import describe_source, load_qa
from eval.errors import DatasetFormatError
from eval.records import QARecord, context_id, contexts_as_corpus, records_fingerprint, split_by_article

SQUAD_POOL = Path(__file__).resolve().parents[3] / "shared" / "data" / "squad" / "squad-v1.1-dev-pool.json"


def _squad(version: str = "1.1") -> dict:
    impossible = {"is_impossible": True} if version == "2.0" else {}
    qas_b = [{"id": "b1", "question": "Where?", "answers": [{"text": "Lyon", "answer_start": 0}]}]
    if version == "2.0":
        qas_b.append({"id": "b2", "question": "Who?", "answers": [], **impossible})
    return {"version": version, "data": [
        {"title": "Paris_(city)", "paragraphs": [
            {"context": "Paris is the capital of France.",
             "qas": [{"id": "a1", "question": " What is the capital? ",
                      "answers": [{"text": "Paris", "answer_start": 0}, {"text": "Paris", "answer_start": 0},
                                  {"text": "Paris, France", "answer_start": 0}]},
                     {"id": "a2", "question": "Of which country?",
                      "answers": [{"text": "France", "answer_start": 25}]}]}]},
        {"title": "Lyon", "paragraphs": [{"context": "Lyon is a city.", "qas": qas_b}]},
    ]}


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_squad_v11(tmp_path: Path) -> None:
    records = load_qa(_write(tmp_path / "s.json", _squad()))
    assert [r.id for r in records] == ["a1", "a2", "b1"]
    first = records[0]
    assert first.question == "What is the capital?"
    assert first.answers == ["Paris", "Paris, France"]  # deduplicated, order kept
    assert first.context == "Paris is the capital of France." and first.title == "Paris (city)"


def test_squad_v2_unanswerable_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path / "s2.json", _squad("2.0"))
    with caplog.at_level("INFO"):
        records = load_qa(path)
    assert [r.id for r in records] == ["a1", "a2", "b1"]
    assert "1 unanswerable" in caplog.text
    kept = load_qa(path, include_unanswerable=True)
    assert kept[-1].id == "b2" and kept[-1].answers == []


def test_articles_filter(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.json", _squad())
    assert [r.id for r in load_qa(path, articles=["paris (city)"])] == ["a1", "a2"]
    assert [r.id for r in load_qa(path, articles=["Paris_(city)"])] == ["a1", "a2"]
    with pytest.raises(DatasetFormatError, match="Unknown article"):
        load_qa(path, articles=["Berlin"])


def test_nq_open_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "nq.jsonl"
    path.write_text('{"question": "who wrote hamlet", "answer": ["Shakespeare", "William Shakespeare"]}\n\n'
                    '{"question": "capital of france", "answer": ["Paris"]}\n', encoding="utf-8")
    records = load_qa(path)
    assert [r.id for r in records] == ["nq-0", "nq-1"]
    assert records[0].answers == ["Shakespeare", "William Shakespeare"] and records[0].context is None
    assert load_qa(path, format="nq")[1].answers == ["Paris"]


def test_hotpot_supporting_paragraphs(tmp_path: Path) -> None:
    item = {"_id": "h1", "question": "Which city?", "answer": "Paris", "type": "bridge",
            "supporting_facts": [["Paris", 0], ["France", 1]],
            "context": [["Distractor", ["Nothing here."]], ["France", ["France is a country.", " Big."]],
                        ["Paris", ["Paris is a city."]]]}
    hf_item = {"id": "h2", "question": "Q?", "answer": "A",
               "supporting_facts": {"title": ["T2"], "sent_id": [0]},
               "context": {"title": ["T1", "T2"], "sentences": [["one."], ["two."]]}}
    records = load_qa(_write(tmp_path / "hotpot.json", [item, hf_item]))
    assert records[0].context == "France: France is a country. Big.\n\nParis: Paris is a city."
    assert records[0].title == "France | Paris" and records[0].answers == ["Paris"]
    assert records[1].context == "T2: two." and records[1].id == "h2"
    assert [r.id for r in load_qa(tmp_path / "hotpot.json", articles=["paris"])] == ["h1"]


def test_triviaqa_official_and_rows(tmp_path: Path) -> None:
    official = {"Data": [{"Question": "Which planet?", "QuestionId": "tq1",
                          "Answer": {"Value": "Mars", "Aliases": ["Mars", "Red Planet"],
                                     "NormalizedAliases": ["mars", "red planet"]}}]}
    records = load_qa(_write(tmp_path / "tq.json", official))
    assert records[0].id == "tq1" and records[0].answers == ["Mars", "Red Planet", "mars", "red planet"]
    rows = tmp_path / "tq.jsonl"
    rows.write_text(json.dumps({"question": "Q?", "question_id": "x",
                                "answer": {"value": "V", "aliases": ["V", "W"]}}) + "\n", encoding="utf-8")
    assert load_qa(rows)[0].answers == ["V", "W"]


def test_plain_jsonl_and_json_list(tmp_path: Path) -> None:
    path = tmp_path / "own.jsonl"
    lines = [{"question": "q1", "answers": ["a", "b"], "context": "ctx", "title": "T", "id": "x1"},
             {"question": "q2", "answer": "c"}, {"question": "q3", "answer": 1889}]
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    records = load_qa(path)
    assert records[0] == QARecord("x1", "q1", ["a", "b"], "ctx", "T")
    assert records[1].answers == ["c"] and records[1].id == "own-1" and records[1].context is None
    assert records[2].answers == ["1889"]
    assert load_qa(_write(tmp_path / "list.json", lines))[0].id == "x1"


def test_csv_pipe_separated_and_tsv_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "own.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "question", "answers", "context"])
        writer.writerow(["c1", "Who, exactly?", "Ann|Anne", "Ann was here."])
        writer.writerow(["c2", "When?", "1999", ""])
    records = load_qa(path)
    assert records[0].answers == ["Ann", "Anne"] and records[0].question == "Who, exactly?"
    assert records[1].context is None
    noext = tmp_path / "own.data"
    noext.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_qa(noext)[0].answers == ["Ann", "Anne"]  # sniffed by content
    tsv = tmp_path / "own.tsv"
    tsv.write_text("question\tanswer\nWhat?\tx|y\n", encoding="utf-8")
    assert load_qa(tsv)[0].answers == ["x", "y"]
    gz = tmp_path / "s.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(_squad()).encode()))
    assert len(load_qa(gz)) == 3


def test_hf_dataset_and_list_of_dicts() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([
        {"id": "s1", "title": "T", "context": "C.", "question": "Q?",
         "answers": {"text": ["A", "A"], "answer_start": [0, 0]}}])
    assert load_qa(ds) == [QARecord("s1", "Q?", ["A"], "C.", "T")]
    assert load_qa([{"question": "Q?", "answer": ["x"]}])[0].answers == ["x"]
    with pytest.raises(DatasetFormatError, match="one split"):
        load_qa(datasets.DatasetDict({"train": ds}))
    assert describe_source(ds)["type"] == "Dataset"


def test_errors_name_problem_and_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="does not exist"):
        load_qa(tmp_path / "missing.json")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n', encoding="utf-8")
    with pytest.raises(DatasetFormatError, match="row 0 needs"):
        load_qa(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "q", "answer": "a"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DatasetFormatError, match="line 2"):
        load_qa(broken)
    with pytest.raises(DatasetFormatError, match="Unknown dataset format"):
        load_qa(bad, format="xml")
    with pytest.raises(DatasetFormatError, match="Fix"):
        load_qa(_write(tmp_path / "obj.json", {"foo": 1}))


def test_duplicate_ids_made_unique() -> None:
    records = load_qa([{"id": "d", "question": "q", "answer": "a"}, {"id": "d", "question": "q2", "answer": "b"},
                       {"id": "d#2", "question": "q3", "answer": "c"}])
    assert len({r.id for r in records}) == 3


def test_contexts_as_corpus_dedupes(tmp_path: Path) -> None:
    records = load_qa(_write(tmp_path / "s.json", _squad()))
    corpus = contexts_as_corpus(records)
    assert [c["text"] for c in corpus] == ["Paris is the capital of France.", "Lyon is a city."]
    assert corpus[0] == {"id": context_id("Paris is the capital of France."), "title": "Paris (city)",
                         "text": "Paris is the capital of France."}
    with pytest.raises(DatasetFormatError, match="--index"):
        contexts_as_corpus([QARecord("x", "q", ["a"])])


def test_split_by_article_is_deterministic_and_disjoint() -> None:
    records = [QARecord(f"{t}{i}", "q", ["a"], "c", t) for t in "ABCDEFGH" for i in range(3)]
    train, val = split_by_article(records, 2, seed=7)
    assert (train, val) == split_by_article(records, 2, seed=7)
    assert len(val) == 6 and len(train) == 18
    assert not {r.title for r in train} & {r.title for r in val}
    with pytest.raises(DatasetFormatError, match="n_val_articles"):
        split_by_article(records, 8)
    with pytest.raises(DatasetFormatError, match="no title"):
        split_by_article([QARecord("x", "q", ["a"])], 1)


def test_records_fingerprint_changes_with_content() -> None:
    a = [QARecord("1", "q", ["a"])]
    assert records_fingerprint(a) == records_fingerprint([QARecord("1", "q", ["a"])])
    assert records_fingerprint(a) != records_fingerprint([QARecord("1", "q", ["b"])])


@pytest.mark.skipif(not SQUAD_POOL.is_file(), reason=f"{SQUAD_POOL} not present")
def test_real_squad_pool() -> None:
    records = load_qa(SQUAD_POOL)
    assert len(records) == 6689
    assert len({r.title for r in records}) == 32
    assert len(contexts_as_corpus(records)) == 1388
    train, val = split_by_article(records, 4, seed=0)
    assert len(train) + len(val) == 6689
    assert len(load_qa(SQUAD_POOL, articles=["Normans"])) > 0
