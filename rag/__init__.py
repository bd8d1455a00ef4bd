"""squeezerag query-time side: defaults, the frozen LLM, prompt assembly and the RAG pipeline.

Heavy submodules load on first attribute access so ``import rag`` stays cheap (and works without
langchain-core installed).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RAG": "rag.pipeline",
    "Answer": "rag.answer",
    "Timings": "rag.answer",
    "MODES": "rag.answer",
    "LLM": "rag.llm",
    "Generation": "rag.llm",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = list(_EXPORTS)
