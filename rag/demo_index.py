"""The demo index over the bundled Wikipedia summaries, built once and cached; the shipped projector and
window scorer."""

from __future__ import annotations

import logging
from pathlib import Path

from rag.defaults import cache_dir, load_demo_corpus

logger = logging.getLogger(__name__)

DEMO_MEMORY_ENCODINGS = ("pooled", "segments:8")
SHIPPED_PROJECTOR = Path(__file__).resolve().parent.parent / "projector" / "weights" / "default"
SHIPPED_WINDOW_SCORER = Path(__file__).resolve().parent / "weights" / "window_scorer"


def demo_index_dir() -> Path:
    return cache_dir() / "indexes" / "demo-wiki-summaries"


def ensure_demo_index(index_dir: str | Path | None = None, progress: bool = True):
    """Load the demo index, building it over the 10,033 summaries on first use (minutes on 2 cores)."""
    from indexer import BuildConfig, Index, build_index

    target = Path(index_dir) if index_dir is not None else demo_index_dir()
    if (target / "manifest.json").exists():
        return Index.load(target)
    logger.info("Building the demo index in %s (first run only)", target)
    return build_index(load_demo_corpus(), target, config=BuildConfig(memory_encodings=DEMO_MEMORY_ENCODINGS),
                       progress=progress)


def default_projector_dir() -> Path | None:
    """The projector shipped in the repo for (all-MiniLM-L6-v2, SmolLM2-135M-Instruct), if present."""
    if (SHIPPED_PROJECTOR / "model.safetensors").exists():
        return SHIPPED_PROJECTOR
    logger.warning("No shipped projector at %s: mode='compressed' is unavailable", SHIPPED_PROJECTOR)
    return None


def default_window_scorer_dir() -> Path | None:
    """The window scorer shipped in the repo for all-MiniLM-L6-v2, if present (else the untrained rule)."""
    if (SHIPPED_WINDOW_SCORER / "model.safetensors").exists():
        return SHIPPED_WINDOW_SCORER
    logger.warning("No shipped window scorer at %s: selected_text uses the untrained max-sim rule",
                   SHIPPED_WINDOW_SCORER)
    return None
