"""squeezerag evaluation: QA datasets, metrics, the benchmark runner, reports and the timing benchmark.

```python
from eval import load_qa, run_benchmark
records = load_qa("squad-v1.1-dev-pool.json", articles=["Normans"])
result = run_benchmark(rag, records, modes=("closed_book", "full_text", "compressed"), k=3, out_dir="runs/x")
```

Submodules load on first attribute access, so ``import eval`` (and the CLI's registration) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "QARecord": "eval.records",
    "contexts_as_corpus": "eval.records",
    "split_by_article": "eval.records",
    "load_qa": "eval.datasets",
    "run_benchmark": "eval.runner",
    "BenchmarkResult": "eval.runner",
    "compare_runs": "eval.compare",
    "run_timing": "eval.timing",
    "TimingConfig": "eval.timing",
    "add_bench_parser": "eval.cli",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'eval' has no attribute {name!r}")


__all__ = list(_EXPORTS)
