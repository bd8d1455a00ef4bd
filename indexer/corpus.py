"""Corpus reading: any supported source -> a stream of :class:`Document` ``{id, title, text, metadata}``.

Sources: a path to JSON Lines (``.jsonl``/``.ndjson``), JSON (a list of records or an object id -> record),
CSV/TSV, Parquet, a ``.txt``/``.md`` file or a folder of them; an in-memory list (or iterable) of dicts or
strings; a ``datasets.Dataset``; a pandas ``DataFrame``. A ``str`` is always a path, never a document.

Records without an id get a stable one: ``<file stem>:<line>`` (row/item for Parquet/JSON), the relative
path for folders, and ``doc-<sha256 of title+text>`` for in-memory records, so re-reading the same corpus
gives the same ids.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.readers import (
    TEXT_SUFFIXES,
    BadInputPolicy,
    RawRecord,
    format_suffix,
    read_csv,
    read_folder,
    read_json,
    read_jsonl,
    read_parquet,
    read_text_file,
)

logger = logging.getLogger(__name__)

TEXT_FIELDS = ("text", "extract", "content", "context", "page_content")
TITLE_FIELDS = ("title",)
ID_FIELDS = ("id", "_id")
_FILE_READERS = {".jsonl": read_jsonl, ".ndjson": read_jsonl, ".json": read_json, ".csv": read_csv,
                 ".parquet": read_parquet, ".pq": read_parquet}
_TEXT_FIX = "Fix: give every record a non-empty text, or name its text field with text_field=..."


@dataclass
class Document:
    """One source document; ``location`` (file and line) is for messages only and is not stored."""

    id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    location: str = ""


@dataclass
class FieldNames:
    """Which record fields hold text, title and id; ``None`` tries the usual names in order."""

    text: str | None = None
    title: str | None = None
    id: str | None = None


class CorpusReader:
    """Iterate the documents of ``source``; after iteration ``skipped`` counts records dropped as bad.

    Args:
        source: see the module docstring.
        fields: record field names.
        skip_bad: skip (and count) malformed records instead of raising ``CorpusError``.
        existing_ids: ids already indexed (``Index.add``); a new document reusing one is an error.
    """

    def __init__(self, source: Any, fields: FieldNames | None = None, skip_bad: bool = False,
                 existing_ids: Iterable[str] = ()) -> None:
        self.source = source
        self.fields = fields or FieldNames()
        self.policy = BadInputPolicy(skip_bad)
        self.duplicates = 0
        self._seen: dict[str, str] = dict.fromkeys(existing_ids, "")

    @property
    def skipped(self) -> int:
        """Records skipped as bad so far (``skip_bad=True`` only)."""
        return self.policy.skipped

    def describe(self) -> str:
        """Short name of the source for messages."""
        if isinstance(self.source, (str, Path)):
            return str(self.source)
        return f"in-memory {type(self.source).__name__}"

    def __iter__(self) -> Iterator[Document]:
        for record in _raw_records(self.source, self.policy):
            document = self._to_document(record)
            if document is not None and self._is_new(document):
                yield document
        if self.policy.skipped or self.policy.repaired:
            logger.warning("Corpus %s: skipped %d bad record(s), replaced undecodable bytes in %d; see the "
                           "debug log for each.", self.describe(), self.policy.skipped, self.policy.repaired)
        if self.duplicates:
            logger.info("Corpus %s: dropped %d exact duplicate document(s).", self.describe(), self.duplicates)

    def _to_document(self, record: RawRecord) -> Document | None:
        value = record.value
        if isinstance(value, str):
            value = {"text": value}
        if not isinstance(value, dict):
            self.policy.skip(f"{record.location}: expected an object or a string, got {type(value).__name__}.",
                             "Fix: make every record a JSON object with a text field.")
            return None
        text_key = self._text_key(value, record.location)
        if text_key is None:
            return None
        title_key = _first_present(value, (self.fields.title,) if self.fields.title else TITLE_FIELDS)
        id_key = _first_present(value, (self.fields.id,) if self.fields.id else ID_FIELDS)
        text = _as_text(value[text_key])
        title = _as_text(value.get(title_key)) if title_key else ""
        doc_id = _as_text(value.get(id_key)) if id_key else ""
        if not doc_id:
            doc_id = record.default_id or _content_id(title, text)
        metadata = {k: v for k, v in value.items() if k not in (text_key, title_key, id_key)}
        return Document(doc_id, title.strip(), text, metadata, record.location)

    def _text_key(self, value: dict, location: str) -> str | None:
        candidates = (self.fields.text,) if self.fields.text else TEXT_FIELDS
        key = next((k for k in candidates if k in value and _as_text(value[k]).strip()), None)
        if key is None:
            wanted = ", ".join(repr(k) for k in candidates)
            self.policy.skip(f"{location}: document has no text (looked for field {wanted}; the record has "
                             f"{sorted(map(str, value))}).", _TEXT_FIX)
        return key

    def _is_new(self, document: Document) -> bool:
        """Reject a reused id; an exact duplicate (same id, same text) is dropped quietly."""
        digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
        previous = self._seen.get(document.id)
        if previous is None:
            self._seen[document.id] = digest
            return True
        if previous == digest:
            self.duplicates += 1
            return False
        where = "is already in the index" if previous == "" else "is used twice, with different texts"
        self.policy.skip(f"{document.location}: document id {document.id!r} {where}.",
                         "Fix: give every document a unique id (id_field=...).")
        return False


def _first_present(value: dict, keys: Iterable[str | None]) -> str | None:
    return next((k for k in keys if k is not None and value.get(k) is not None), None)


def _as_text(value: Any) -> str:
    """Strings as they are; numbers as text; anything else (lists, dicts, None) as empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _content_id(title: str, text: str) -> str:
    return "doc-" + hashlib.sha256(f"{title}\x1f{text}".encode()).hexdigest()[:16]


def _raw_records(source: Any, policy: BadInputPolicy) -> Iterator[RawRecord]:
    if isinstance(source, (str, Path)):
        yield from _path_records(Path(source), policy)
        return
    type_name = type(source).__name__
    if type_name in ("DatasetDict", "IterableDatasetDict"):
        from rag.errors import CorpusError

        raise CorpusError(f"Got a {type_name} with splits {list(source)}; an index needs one split. "
                          "Fix: pass e.g. dataset['train'].")
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas DataFrame
        source = source.to_dict(orient="records")
    if isinstance(source, dict):
        from rag.errors import CorpusError

        raise CorpusError("Got a dict as corpus. Fix: pass a list of records, or list(d.values()).")
    if not isinstance(source, Iterable):
        from rag.errors import CorpusError

        raise CorpusError(f"Cannot read a corpus from a {type_name}. Fix: pass a path, a list of dicts or "
                          "strings, or a datasets.Dataset.")
    for i, value in enumerate(source):
        yield RawRecord(value, f"corpus[{i}]", "")


def _path_records(path: Path, policy: BadInputPolicy) -> Iterator[RawRecord]:
    from rag.errors import CorpusError

    if not path.exists():
        raise CorpusError(f"Corpus path {str(path)[:200]!r} does not exist. Fix: check the path (a str corpus is "
                          "always a path; wrap a single document's text in a list).")
    if path.is_dir():
        yield from read_folder(path, policy)
        return
    suffix = format_suffix(path)
    if suffix in TEXT_SUFFIXES:
        yield from read_text_file(path, policy)
    elif suffix in (".tsv", ".tab"):
        yield from read_csv(path, policy, delimiter="\t")
    elif suffix in _FILE_READERS:
        yield from _FILE_READERS[suffix](path, policy)
    else:
        known = ", ".join(sorted({*_FILE_READERS, *TEXT_SUFFIXES, ".tsv"}))
        raise CorpusError(f"Unsupported corpus file type {suffix or '(none)'!r} for {path}. Fix: use one of "
                          f"{known} (optionally .gz), or a folder of .txt/.md files.")


def read_corpus(source: Any, *, text_field: str | None = None, title_field: str | None = None,
                id_field: str | None = None, skip_bad: bool = False) -> CorpusReader:
    """Documents of ``source`` (lazy; iterate the returned reader, then read its ``skipped``)."""
    return CorpusReader(source, FieldNames(text_field, title_field, id_field), skip_bad=skip_bad)
