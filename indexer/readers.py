"""File-format readers: each yields raw records with a location (for messages) and a fallback id.

A raw record is a ``dict`` or a ``str``; :mod:`indexer.corpus` turns it into a :class:`~indexer.corpus.Document`.
Bad input goes through :class:`BadInputPolicy`, which raises a ``CorpusError`` naming file and line, or
(``skip_bad=True``) counts and skips it. Files may be gzip-compressed (``.jsonl.gz`` ...).
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
_REENCODE_FIX = ("Fix: re-encode the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8 in > out`), "
                 "or pass skip_bad=True (`--skip-bad`) to decode it with U+FFFD replacement characters.")


@dataclass
class RawRecord:
    """A record as read from its source; ``location`` names file and line for error messages."""

    value: Any
    location: str
    default_id: str


class BadInputPolicy:
    """Raise on bad input, or under ``skip_bad`` count it and go on (a warning reports the totals)."""

    def __init__(self, skip_bad: bool) -> None:
        self.skip_bad = skip_bad
        self.skipped = 0
        self.repaired = 0

    def skip(self, problem: str, fix: str) -> None:
        """A record that cannot be used: raise, or count it as skipped."""
        from rag.errors import CorpusError

        if not self.skip_bad:
            raise CorpusError(f"{problem} {fix} Or pass skip_bad=True (`--skip-bad`) to skip such records.")
        self.skipped += 1
        logger.debug("Skipping: %s", problem)

    def decode(self, raw: bytes, path: Path | str, first_line: int = 1, base_offset: int = 0) -> str:
        """Decode UTF-8; on bad bytes raise naming file, line and byte offset, or decode with replacement."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = first_line + raw.count(b"\n", 0, err.start)
            problem = (f"{path} line {line}: invalid UTF-8 byte 0x{raw[err.start]:02x} at byte offset "
                       f"{base_offset + err.start} of the file.")
            if not self.skip_bad:
                from rag.errors import CorpusError

                raise CorpusError(f"{problem} {_REENCODE_FIX}") from None
            self.repaired += 1
            logger.debug("Replacing undecodable bytes: %s", problem)
            return raw.decode("utf-8", errors="replace")


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def format_suffix(path: Path) -> str:
    """The format suffix, ignoring a trailing ``.gz``: ``docs.jsonl.gz`` -> ``.jsonl``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _stem(path: Path) -> str:
    return path.name.split(".")[0] or path.stem


def decoded_lines(path: Path, policy: BadInputPolicy) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` (1-based, line ending kept), decoding each line on its own."""
    offset = 0
    with _open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(_BOM):
                raw, offset = raw[len(_BOM):], len(_BOM)
            yield number, policy.decode(raw, path, number, offset)
            offset += len(raw)


def read_jsonl(path: Path, policy: BadInputPolicy) -> Iterator[RawRecord]:
    """JSON Lines: one object (or string) per line; blank lines are ignored."""
    for number, line in decoded_lines(path, policy):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            policy.skip(f"{path} line {number}: malformed JSON ({err.msg} at column {err.colno}).",
                        "Fix: correct or remove that line.")
            continue
        yield RawRecord(value, f"{path} line {number}", f"{_stem(path)}:{number}")


def read_json(path: Path, policy: BadInputPolicy) -> Iterator[RawRecord]:
    """A JSON list of records, or an object mapping id -> record (the demo corpus layout)."""
    with _open(path) as handle:
        raw = handle.read()
    text = policy.decode(raw.removeprefix(_BOM), path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        from rag.errors import CorpusError

        raise CorpusError(f"{path} line {err.lineno} column {err.colno}: malformed JSON ({err.msg}). Fix: "
                          "correct the file (a whole JSON document cannot be partly skipped), or write it as "
                          "JSON Lines so skip_bad=True can skip single bad lines.") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))  # {"data": [...]}-style wrappers
    if isinstance(data, list):
        for i, value in enumerate(data):
            yield RawRecord(value, f"{path} item {i}", f"{_stem(path)}:{i}")
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict):
                value = {"id": key, **value} if "id" not in value else value
            yield RawRecord(value, f"{path} key {key!r}", str(key))
    else:
        from rag.errors import CorpusError

        raise CorpusError(f"{path}: expected a JSON list of records or an object of id -> record, got "
                          f"{type(data).__name__}. Fix: wrap the records in a list.")


def read_csv(path: Path, policy: BadInputPolicy, delimiter: str = ",") -> Iterator[RawRecord]:
    """CSV/TSV with a header row; every row is a record."""
    # Documents can be far longer than csv's default 128 KiB field limit.
    csv.field_size_limit(2**31 - 1)
    lines = (line for _, line in decoded_lines(path, policy))
    reader = csv.DictReader(lines, delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            policy.skip(f"{path} line {reader.line_num}: malformed CSV ({err}).", "Fix: correct that row.")
            continue
        row.pop(None, None)  # extra unnamed cells of a ragged row
        yield RawRecord(row, f"{path} line {reader.line_num}", f"{_stem(path)}:{reader.line_num}")


def read_parquet(path: Path, policy: BadInputPolicy) -> Iterator[RawRecord]:
    """Parquet, read in record batches (bounded memory)."""
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for value in batch.to_pylist():
            yield RawRecord(value, f"{path} row {row}", f"{_stem(path)}:{row}")
            row += 1


def read_text_file(path: Path, policy: BadInputPolicy, root: Path | None = None) -> Iterator[RawRecord]:
    """One ``.txt`` / ``.md`` file = one document; title = first markdown heading, else the file stem."""
    with _open(path) as handle:
        text = policy.decode(handle.read().removeprefix(_BOM), path)
    title, body = _split_heading(text) if format_suffix(path) in (".md", ".markdown") else ("", text)
    doc_id = path.relative_to(root).with_suffix("").as_posix() if root else path.stem
    yield RawRecord({"id": doc_id, "title": title or path.stem, "text": body, "path": str(path)},
                    str(path), doc_id)


def _split_heading(text: str) -> tuple[str, str]:
    """``("Title", rest)`` when the first non-blank line is an ATX heading, else ``("", text)``."""
    stripped = text.lstrip()
    first, _, rest = stripped.partition("\n")
    if first.startswith("#"):
        return first.lstrip("#").strip(), rest
    return "", text


def read_folder(path: Path, policy: BadInputPolicy) -> Iterator[RawRecord]:
    """Every ``.txt`` / ``.md`` file under ``path`` (recursive, sorted, hidden files ignored)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and format_suffix(p) in TEXT_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    for file in files:
        yield from read_text_file(file, policy, root=path)
