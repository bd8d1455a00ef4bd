"""Error types. Every message names the problem and the fix."""

from __future__ import annotations


class SqueezeRagError(Exception):
    """Base class for errors raised by squeezerag."""


class MissingPackageError(SqueezeRagError, ImportError):
    """An optional package (a bundled default or a heavy extra) is not installed."""

    def __init__(self, what: str, pip_spec: str, extra: str = "") -> None:
        hint = f"pip install {pip_spec}"
        super().__init__(f"{what} needs the package '{pip_spec.split()[-1]}', which is not installed. "
                         f"Fix: `{hint}`{extra}")


class CorpusError(SqueezeRagError, ValueError):
    """A corpus could not be read: names the file (and line) and what was wrong."""


class IndexFormatError(SqueezeRagError):
    """An index directory is incomplete, corrupt or written by another format version."""


class EmbedderMismatchError(SqueezeRagError):
    """The query embedder differs from the one the index (or projector) was built with."""


class ProjectorMismatchError(SqueezeRagError):
    """A projector was trained for another embedder, LLM or memory encoding."""


class InvalidQuestionError(SqueezeRagError, ValueError):
    """An empty or whitespace-only question."""
