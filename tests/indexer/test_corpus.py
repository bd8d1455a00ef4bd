"""Corpus readers: every format gives the same documents; bad input is named (file, line) or skipped."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer import read_corpus
from rag.errors import CorpusError

RECORDS = [
    {"id": "a", "title": "Alpha", "text": "Alpha is the first letter.", "lang": "en"},
    {"id": "b", "title": "Beta", "text": "Beta comes second.", "lang": "en"},
    {"id": "c", "title": "Gamma", "text": "Gamma is third, with a comma.", "lang": "el"},
]


def _triples(source, **kwargs) -> list[tuple[str, str, str]]:
    return [(d.id, d.title, d.text) for d in read_corpus(source, **kwargs)]


EXPECTED = [(r["id"], r["title"], r["text"]) for r in RECORDS]


def _write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_json_csv_parquet_round_trip(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "c.jsonl", RECORDS)
    (tmp_path / "c.json").write_text(json.dumps(RECORDS), encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps({r["id"]: {k: v for k, v in r.items() if k != "id"}
                                                 for r in RECORDS}), encoding="utf-8")
    with (tmp_path / "c.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(RECORDS[0]))
        writer.writeheader()
        writer.writerows(RECORDS)
    pq.write_table(pa.Table.from_pylist(RECORDS), tmp_path / "c.parquet")
    with gzip.open(tmp_path / "z.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in RECORDS)
    for name in ("c.jsonl", "c.json", "d.json", "c.csv", "c.parquet", "z.jsonl.gz"):
        assert _triples(tmp_path / name) == EXPECTED, name
    assert _triples(str(tmp_path / "c.jsonl")) == EXPECTED  # str paths too


def test_metadata_keeps_other_fields(tmp_path: Path) -> None:
    docs = list(read_corpus(_write_jsonl(tmp_path / "m.jsonl", RECORDS)))
    assert docs[2].metadata == {"lang": "el"}


def test_in_memory_dataset_and_strings() -> None:
    import datasets

    assert _triples(RECORDS) == EXPECTED
    assert _triples(datasets.Dataset.from_list(RECORDS)) == EXPECTED
    docs = list(read_corpus(["first text", "second text"]))
    assert [d.text for d in docs] == ["first text", "second text"]
    assert docs[0].id != docs[1].id and docs[0].id == list(read_corpus(["first text"]))[0].id  # stable


def test_folder_of_txt_and_md(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("Plain notes here.", encoding="utf-8")
    (tmp_path / "sub" / "page.md").write_text("# Page Title\n\nBody of the page.", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("ignored", encoding="utf-8")
    docs = {d.id: d for d in read_corpus(tmp_path)}
    assert set(docs) == {"notes", "sub/page"}
    assert docs["notes"].title == "notes" and docs["notes"].text == "Plain notes here."
    assert docs["sub/page"].title == "Page Title" and docs["sub/page"].text.strip() == "Body of the page."


def test_field_names_and_fallbacks(tmp_path: Path) -> None:
    records = [{"key": "k1", "name": "N", "body": "Some body."}]
    assert _triples(records, text_field="body", title_field="name", id_field="key") == [("k1", "N", "Some body.")]
    assert [d.text for d in read_corpus([{"extract": "From extract."}])] == ["From extract."]
    assert [d.text for d in read_corpus([{"page_content": "LangChain style."}])] == ["LangChain style."]


def test_missing_ids_are_file_stem_and_line(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "noids.jsonl", [{"text": "one"}, {"text": "two"}])
    assert [d.id for d in read_corpus(path)] == ["noids:1", "noids:2"]


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "text": "ok"}\n{"id": 2, "text": \n{"id": "3", "text": "fine"}\n')
    with pytest.raises(CorpusError, match=r"bad\.jsonl line 2.*skip_bad=True"):
        list(read_corpus(path))
    reader = read_corpus(path, skip_bad=True)
    assert [d.id for d in reader] == ["1", "3"] and reader.skipped == 1


def test_document_without_text_names_file_and_line(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "empty.jsonl", [{"id": "1", "text": "ok"}, {"id": "2", "text": "   "}])
    with pytest.raises(CorpusError, match=r"empty\.jsonl line 2.*no text"):
        list(read_corpus(path))
    reader = read_corpus(path, skip_bad=True)
    assert len(list(reader)) == 1 and reader.skipped == 1


def test_non_utf8_names_file_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "caf\xe9"}\n')
    with pytest.raises(CorpusError, match=r"latin\.jsonl line 2.*byte offset 50.*re-encode"):
        list(read_corpus(path))
    docs = list(read_corpus(path, skip_bad=True))
    assert docs[1].text == "caf\ufffd"


def test_non_utf8_in_text_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"line one\nline \xff two\n")
    with pytest.raises(CorpusError, match=r"a\.txt line 2"):
        list(read_corpus(tmp_path))


def test_duplicate_ids(tmp_path: Path) -> None:
    assert len(list(read_corpus([{"id": "x", "text": "same"}, {"id": "x", "text": "same"}]))) == 1
    with pytest.raises(CorpusError, match="'x' is used twice"):
        list(read_corpus([{"id": "x", "text": "one"}, {"id": "x", "text": "two"}]))


def test_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        list(read_corpus(tmp_path / "missing.jsonl"))
    (tmp_path / "x.xml").write_text("<a/>")
    with pytest.raises(CorpusError, match="Unsupported corpus file type"):
        list(read_corpus(tmp_path / "x.xml"))
    (tmp_path / "broken.json").write_text('[{"text": "a"},\n {"text": }]')
    with pytest.raises(CorpusError, match=r"broken\.json line 2"):
        list(read_corpus(tmp_path / "broken.json"))
