"""``manifest.json``: what an index directory holds and how it was built.

The manifest is the contract between the builder and every reader (RAG, projector training, CLI): format
name and version, embedder (id, dim, max_seq_length, probe vector), metric, FAISS factory and search
parameters, row count, chunking, memory encodings (file, shape, dtype) and a corpus fingerprint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMAT_NAME = "squeezerag-index"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
FAISS_FILE = "index.faiss"
PASSAGES_FILE = "passages.parquet"
_REBUILD = "Fix: rebuild the index (build_index(...) or `squeezerag index build`)."


@dataclass
class EmbedderInfo:
    """The embedder an index was built with; ``probe_vector`` is its embedding of a fixed probe text."""

    id: str
    dim: int
    max_seq_length: int
    probe_text: str
    probe_vector: list[float]


@dataclass
class MemoryInfo:
    """One memory encoding on disk: ``shape = (rows, m, d)``."""

    encoding: str
    file: str
    shape: list[int]
    dtype: str = "float16"


@dataclass
class ChunkingInfo:
    """How documents were cut: passage size/overlap in embedder tokens and the embedded-text template."""

    chunk_tokens: int
    chunk_overlap: int
    title_budget: int
    template: str = "{title}\\n{text}"


@dataclass
class CorpusInfo:
    """Documents indexed, records skipped as bad, and sha256 over every passage (id, title, text)."""

    documents: int
    skipped: int
    fingerprint: str
    fields: dict[str, str | None] = field(default_factory=dict)


def now() -> str:
    """UTC timestamp in ISO-8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_version() -> str:
    """Installed squeezerag version (``"unknown"`` when running from an uninstalled checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("squeezerag")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class Manifest:
    """Contents of ``manifest.json``; ``memory`` maps encoding name -> :class:`MemoryInfo`."""

    embedder: EmbedderInfo
    factory: str
    rows: int
    chunking: ChunkingInfo
    corpus: CorpusInfo
    memory: dict[str, MemoryInfo]
    search_params: dict[str, int] = field(default_factory=dict)
    normalized: bool = True
    metric: str = "inner_product"
    faiss_file: str = FAISS_FILE
    passages_file: str = PASSAGES_FILE
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    created: str = field(default_factory=now)
    updated: str = field(default_factory=now)
    squeezerag_version: str = field(default_factory=package_version)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with ``format`` and ``format_version`` first."""
        data = asdict(self)
        return {"format": data.pop("format"), "format_version": data.pop("format_version"), **data}

    def save(self, directory: Path) -> None:
        """Write ``directory/manifest.json``."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        (Path(directory) / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "manifest") -> Manifest:
        """Parse a manifest dict; a missing key raises ``IndexFormatError`` naming it."""
        from rag.errors import IndexFormatError

        try:
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            known["embedder"] = EmbedderInfo(**data["embedder"])
            known["chunking"] = ChunkingInfo(**data["chunking"])
            known["corpus"] = CorpusInfo(**data["corpus"])
            known["memory"] = {name: MemoryInfo(**info) for name, info in data["memory"].items()}
            return cls(**known)
        except (KeyError, TypeError) as err:
            raise IndexFormatError(f"{where} is incomplete or malformed ({err}). {_REBUILD}") from None

    @classmethod
    def load(cls, directory: Path | str) -> Manifest:
        """Read and validate ``directory/manifest.json`` (format name and version, files present)."""
        from rag.errors import IndexFormatError

        directory = Path(directory)
        path = directory / MANIFEST_FILE
        if not directory.is_dir():
            raise IndexFormatError(f"Index directory {directory} does not exist. Fix: check the path, or build "
                                   "it with build_index(...) / `squeezerag index build`.")
        if not path.is_file():
            raise IndexFormatError(f"{directory} is not a squeezerag index: {MANIFEST_FILE} is missing. "
                                   f"{_REBUILD}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise IndexFormatError(f"{path} is corrupt ({err}). {_REBUILD}") from None
        _check_format(data, path)
        manifest = cls.from_dict(data, str(path))
        manifest.check_files(directory)
        return manifest

    def check_files(self, directory: Path) -> None:
        """Every file the manifest names must exist."""
        from rag.errors import IndexFormatError

        for name in (self.faiss_file, self.passages_file, *(m.file for m in self.memory.values())):
            if not (directory / name).is_file():
                raise IndexFormatError(f"Index {directory} is missing the file {name}. {_REBUILD}")


def _check_format(data: Any, path: Path) -> None:
    from rag.errors import IndexFormatError

    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise IndexFormatError(f"{path} is not a squeezerag index manifest (format {found!r}, expected "
                               f"{FORMAT_NAME!r}). {_REBUILD}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(f"{path.parent} was written in index format version {version}, but this "
                               f"squeezerag reads format version {FORMAT_VERSION}. Fix: rebuild the index with "
                               "this squeezerag (build_index(...) / `squeezerag index build`), or use the "
                               "squeezerag version that wrote it.")
