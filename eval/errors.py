"""Error types of the evaluation package. Every message names the problem and the fix."""

from __future__ import annotations

from rag.errors import SqueezeRagError


class DatasetFormatError(SqueezeRagError, ValueError):
    """A QA dataset could not be read: names the source, the record and what was wrong."""


class BenchmarkError(SqueezeRagError, RuntimeError):
    """A benchmark cannot run as configured, or the RAG broke one of the runner's invariants."""


class TimingError(SqueezeRagError, RuntimeError):
    """The timing-only benchmark cannot run as asked (unknown architecture, not enough memory)."""
