"""What a run records about the machine and libraries, and peak-memory probes.

Peak RSS comes from ``resource.getrusage`` (``ru_maxrss``): the process's high-water mark since it started,
so a per-mode value is "peak so far" and never decreases across modes. The CUDA peak
(``torch.cuda.max_memory_allocated``) is reset before each mode with :func:`reset_peak_memory`, so it is
per mode.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import resource
import sys
from typing import Any

logger = logging.getLogger(__name__)

_LIBRARIES = ("squeezerag", "torch", "transformers", "sentence-transformers", "faiss-cpu", "faiss-gpu-cu12",
              "datasets", "numpy", "safetensors", "tokenizers", "accelerate")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a result depends on (absent ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _cuda_info() -> dict[str, Any]:
    if "torch" not in sys.modules:
        return {"cuda_available": False}
    import torch

    if not torch.cuda.is_available():
        return {"cuda_available": False}
    return {"cuda_available": True, "cuda_device": torch.cuda.get_device_name(0),
            "cuda_version": torch.version.cuda}


def machine_info(torch_device: str | None = None) -> dict[str, Any]:
    """Platform, CPU count (and how many this process may use), torch threads and device, GPU name."""
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
                            "torch_device": torch_device}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    info.update(_cuda_info())
    return info


def reset_peak_memory() -> None:
    """Reset the CUDA peak counter (RSS peaks cannot be reset)."""
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        sys.modules["torch"].cuda.reset_peak_memory_stats()


def peak_memory_mb() -> dict[str, float | None]:
    """``{"rss_peak_mb", "cuda_peak_mb"}``; the CUDA value is None without a GPU."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KiB on Linux
    cuda_mb = None
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        cuda_mb = sys.modules["torch"].cuda.max_memory_allocated() / 2**20
    return {"rss_peak_mb": round(rss_mb, 1), "cuda_peak_mb": None if cuda_mb is None else round(cuda_mb, 1)}
