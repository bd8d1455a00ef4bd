"""QA dataset loading: one entry point, :func:`load_qa`, for every supported format.

Formats (``format=`` names; ``"auto"`` sniffs the content, not only the file name):

=============  ============================================================================================
``squad``      SQuAD v1.1 / v2.0 JSON (``{"data": [{"title", "paragraphs": [...]}]}``)
``hotpotqa``   HotpotQA JSON list (``_id, question, answer, supporting_facts, context``)
``triviaqa``   TriviaQA (``{"Data": [...]}`` or rows whose ``answer`` is a ``value``/``aliases`` dict)
``nq``         NQ-open JSON Lines (``{"question": ..., "answer": [...]}``)
``jsonl``      your own JSON Lines (or JSON list): ``question``, ``answers`` or ``answer`` (string or list),
               optional ``context``, ``title``, ``id``
``csv``        the same columns as CSV/TSV; several answers separated by ``|``
=============  ============================================================================================

``source`` may also be a ``datasets.Dataset`` (or a list of dicts) with those columns. Files may be gzipped.
Parsing details per family are in :mod:`eval.formats`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.errors import DatasetFormatError
from eval.formats import parse_hotpot, parse_rows, parse_squad, parse_triviaqa
from eval.records import (
    QARecord,
    contexts_as_corpus,
    dedupe_ids,
    filter_articles,
    records_fingerprint,
    split_by_article,
)

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "QARecord", "contexts_as_corpus", "describe_source", "load_qa", "records_fingerprint",
           "sniff_format", "split_by_article"]

FORMATS = ("auto", "squad", "hotpotqa", "triviaqa", "nq", "jsonl", "csv")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_ALIASES = {"hotpot": "hotpotqa", "trivia": "triviaqa", "nq-open": "nq", "json": "jsonl", "tsv": "csv"}


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DatasetFormatError(f"Dataset file {path} does not exist. Fix: check the path (--dataset).")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


def _parse_jsonl(text: str, source: str) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{source}: line {number} is not valid JSON ({exc.msg}). Fix: one JSON "
                                     "object per line (JSON Lines), or a single JSON document.") from exc
    return rows


def _decode_json(text: str, source: str) -> Any:
    """A JSON document, or the list of objects of a JSON Lines file (a lone row object counts as one)."""
    try:
        obj = json.loads(text)
        return [obj] if isinstance(obj, Mapping) and ("question" in obj or "Question" in obj) else obj
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and exc.msg == "Extra data":
            return _parse_jsonl(text, source)
        raise DatasetFormatError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}). Fix: repair "
                                 "the file, or pass format='csv' if it is a CSV file.") from exc


def _read_csv(text: str, tab: bool) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text), delimiter="\t" if tab else ","))


def _classify_rows(rows: Sequence[Any]) -> str:
    first = next((r for r in rows if isinstance(r, Mapping)), None)
    if first is None:
        return "jsonl"
    if "supporting_facts" in first or (not isinstance(first.get("context", ""), str) and "answer" in first):
        return "hotpotqa"
    if isinstance(first.get("answer", first.get("Answer")), Mapping):
        return "triviaqa"
    if "question" in first and isinstance(first.get("answer"), list) and "answers" not in first:
        return "nq"
    return "jsonl"


def sniff_format(obj: Any) -> str:
    """Format name of decoded JSON content (a dict or a list of rows)."""
    if isinstance(obj, Mapping):
        if isinstance(obj.get("data"), list) and (not obj["data"] or "paragraphs" in obj["data"][0]):
            return "squad"
        if "Data" in obj:
            return "triviaqa"
        raise DatasetFormatError(
            f"Unrecognised JSON object with keys {sorted(obj)[:10]}. Fix: use SQuAD ({{'data': [...]}}), "
            "TriviaQA ({'Data': [...]}), or a list / JSON Lines of {'question', 'answers'} rows.")
    if isinstance(obj, list):
        return _classify_rows(obj)
    raise DatasetFormatError(f"Unrecognised dataset content of type {type(obj).__name__}. Fix: see load_qa's "
                             "docstring for the supported formats.")


def _parse(obj: Any, fmt: str, source: str, prefix: str, include_unanswerable: bool) -> list[QARecord]:
    if fmt == "squad":
        if not isinstance(obj, Mapping) or "data" not in obj:
            raise DatasetFormatError(f"{source}: format='squad' but the content has no top-level 'data' "
                                     "list. Fix: pass the SQuAD JSON file, or format='auto'.")
        return parse_squad(obj, source, include_unanswerable)
    if fmt == "hotpotqa":
        return parse_hotpot(obj, source)
    if fmt == "triviaqa":
        return parse_triviaqa(obj, source, prefix)
    if isinstance(obj, Mapping):
        raise DatasetFormatError(f"{source}: format={fmt!r} expects rows but found a JSON object. Fix: "
                                 "pass format='auto' or the format matching the file.")
    return parse_rows(obj, source, prefix, split_pipes=fmt == "csv")


def _load_path(path: Path, fmt: str, include_unanswerable: bool) -> tuple[list[QARecord], str]:
    text = _read_text(path)
    source, prefix = str(path), path.name.split(".")[0]
    tabular = path.suffix in (".csv", ".tsv") or path.name.endswith((".csv.gz", ".tsv.gz"))
    if fmt == "csv" or (fmt == "auto" and tabular):
        return parse_rows(_read_csv(text, ".tsv" in path.name), source, prefix, split_pipes=True), "csv"
    if fmt == "auto" and not text.lstrip().startswith(("{", "[")):
        header = text.lstrip().splitlines()[0] if text.strip() else ""
        if "question" in header.lower():
            return parse_rows(_read_csv(text.lstrip(), "\t" in header), source, prefix, True), "csv"
        raise DatasetFormatError(f"{source}: cannot tell the format (neither JSON nor a CSV with a "
                                 "'question' header). Fix: pass format= explicitly.")
    obj = _parse_jsonl(text, source) if path.name.endswith(_JSONL_SUFFIXES) else _decode_json(text, source)
    fmt = sniff_format(obj) if fmt == "auto" else fmt
    return _parse(obj, fmt, source, prefix, include_unanswerable), fmt


def _is_hf_dataset(source: Any) -> bool:
    return type(source).__module__.split(".")[0] == "datasets"


def _load_rows_object(source: Any, fmt: str, include_unanswerable: bool) -> tuple[list[QARecord], str]:
    if type(source).__name__ == "DatasetDict":
        raise DatasetFormatError(f"Got a DatasetDict with splits {list(source)}. Fix: pass one split, e.g. "
                                 "ds['validation'].")
    rows = [dict(row) for row in source]
    if fmt == "auto":
        fmt = _classify_rows(rows)
    return _parse(rows, fmt, type(source).__name__, "row", include_unanswerable), fmt


def load_qa(source: str | Path | Any, format: str = "auto", articles: Sequence[str] | None = None,
            include_unanswerable: bool = False) -> list[QARecord]:
    """Load a QA dataset (file path, ``datasets.Dataset`` or list of dicts) into :class:`QARecord` s.

    ``format``: one of :data:`FORMATS` (``"auto"`` sniffs the content). ``articles``: keep only the
    records of these article titles (SQuAD, HotpotQA, or rows with a ``title``). ``include_unanswerable``:
    keep SQuAD v2 unanswerable questions (``answers == []``); they are skipped by default. Duplicate ids are
    made unique with ``#n`` suffixes.
    """
    fmt = _ALIASES.get(format, format)
    if fmt not in FORMATS:
        raise DatasetFormatError(f"Unknown dataset format {format!r}. Fix: use one of {list(FORMATS)}.")
    if isinstance(source, (str, Path)):
        records, fmt = _load_path(Path(source), fmt, include_unanswerable)
    elif _is_hf_dataset(source) or isinstance(source, Sequence):
        records, fmt = _load_rows_object(source, fmt, include_unanswerable)
    else:
        raise DatasetFormatError(f"Cannot load a dataset from a {type(source).__name__}. Fix: pass a file "
                                 "path, a datasets.Dataset or a list of dicts.")
    if articles:
        records = filter_articles(records, articles)
    if not records:
        raise DatasetFormatError(f"No usable question in {source if isinstance(source, (str, Path)) else fmt}. "
                                 "Fix: check the file and the articles= filter.")
    logger.info("Loaded %d questions (%s format)", len(records), fmt)
    return dedupe_ids(records)


def describe_source(source: str | Path | Any) -> dict:
    """What a run config records about the dataset: path, format-independent file hash and size."""
    if isinstance(source, (str, Path)):
        path = Path(source).resolve()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None
        return {"path": str(path), "sha256": digest, "bytes": path.stat().st_size if path.is_file() else None}
    return {"path": None, "type": type(source).__name__,
            "hf_fingerprint": getattr(source, "_fingerprint", None)}
