"""Memory encodings: the vectors the projector reads for each passage, and their fp16 on-disk store.

Two encodings exist (see ARCHITECTURE.md):

- ``pooled`` -> ``(n, 1, d)``: the L2-normalised retrieval embedding itself (xRAG); free, since retrieval
  computes it anyway.
- ``segments:m`` -> ``(n, m, d_tok)``: the embedder's last-layer token states (attention-masked, special
  tokens included) mean-pooled into ``m`` contiguous segments (COCOM-light). Not normalised: the projector
  learns its own scaling, and magnitudes carry information.

On disk every encoding is one ``memory.<encoding>.f16.npy`` file of shape ``(rows, m, d)`` written through
``np.lib.format.open_memmap`` so a large corpus never sits in RAM as fp32, and read back memory-mapped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

_SEGMENTS_RE = re.compile(r"^segments:(\d+)$")
# Largest finite fp16 value: token states of some models have outlier dimensions; clip rather than store inf.
_FP16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class MemoryEncoding:
    """A parsed memory encoding: ``kind`` is ``"pooled"`` or ``"segments"``, ``m`` the vectors per passage."""

    kind: str
    m: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("pooled", "segments"):
            raise ValueError(f"Unknown memory encoding kind {self.kind!r}; use 'pooled' or 'segments:<m>'.")
        if self.m < 1 or (self.kind == "pooled" and self.m != 1):
            raise ValueError(f"Invalid number of memory vectors m={self.m} for {self.kind!r}.")

    @property
    def n_vectors(self) -> int:
        """Memory vectors per passage (the ``m`` of the ``(n, m, d)`` arrays)."""
        return self.m

    @property
    def name(self) -> str:
        """Canonical string form, e.g. ``"pooled"`` or ``"segments:8"``."""
        return "pooled" if self.kind == "pooled" else f"segments:{self.m}"

    @property
    def file_name(self) -> str:
        """On-disk file name; ``:`` is replaced because it is not portable in file names."""
        return f"memory.{self.name.replace(':', '-')}.f16.npy"

    def __str__(self) -> str:
        return self.name


def parse_encoding(spec: str | MemoryEncoding) -> MemoryEncoding:
    """Parse ``"pooled"`` or ``"segments:m"`` (m >= 1) into a :class:`MemoryEncoding`."""
    if isinstance(spec, MemoryEncoding):
        return spec
    text = str(spec).strip().lower()
    if text == "pooled":
        return MemoryEncoding("pooled", 1)
    match = _SEGMENTS_RE.match(text)
    if match and int(match.group(1)) >= 1:
        return MemoryEncoding("segments", int(match.group(1)))
    raise ValueError(f"Unknown memory encoding {spec!r}. Use 'pooled' or 'segments:<m>' with m >= 1, "
                     "e.g. 'segments:8'.")


def segment_pool(token_states: torch.Tensor, attention_mask: torch.Tensor, m: int) -> torch.Tensor:
    """Mean-pool the attended tokens of each sequence into ``m`` contiguous segments.

    Args:
        token_states: ``(b, t, d)`` last-layer token states.
        attention_mask: ``(b, t)``; padding may be on either side.
        m: segments per sequence.

    Returns:
        ``(b, m, d)`` float32. Segment ``j`` of a sequence with ``L`` attended tokens averages tokens
        ``[floor(j L / m), max(floor((j+1) L / m), floor(j L / m) + 1))``, so when ``L < m`` segments reuse
        tokens instead of being empty (never NaN).
    """
    mask = attention_mask.to(torch.bool)
    lengths = mask.sum(dim=1, keepdim=True).clamp(min=1)  # (b, 1)
    # Position among attended tokens; works for left- and right-padded batches alike.
    position = torch.cumsum(mask.long(), dim=1) - 1  # (b, t)
    j = torch.arange(m, device=token_states.device).view(1, m, 1)
    start = torch.div(j * lengths.unsqueeze(1), m, rounding_mode="floor")  # (b, m, 1)
    end = torch.maximum(torch.div((j + 1) * lengths.unsqueeze(1), m, rounding_mode="floor"), start + 1)
    pos = position.unsqueeze(1)  # (b, 1, t)
    weights = ((pos >= start) & (pos < end) & mask.unsqueeze(1)).to(token_states.dtype)  # (b, m, t)
    summed = torch.bmm(weights, token_states)  # (b, m, d)
    return (summed / weights.sum(dim=2, keepdim=True).clamp(min=1)).float()


def to_fp16(array: np.ndarray) -> np.ndarray:
    """Cast to float16, clipping to the finite fp16 range (an overflow would store ``inf``)."""
    return np.clip(array, -_FP16_MAX, _FP16_MAX).astype(np.float16)


def create_memory_file(path: Path, rows: int, m: int, dim: int) -> np.memmap:
    """Create ``path`` as an fp16 ``.npy`` of shape ``(rows, m, dim)``, memory-mapped for incremental writes."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, m, dim))


def open_memory_file(path: Path) -> np.memmap:
    """Open a memory file read-only and memory-mapped: ``(rows, m, d)`` float16."""
    return np.load(path, mmap_mode="r")


def copy_rows(src: Path, dst: np.ndarray, block: int = 65536) -> None:
    """Copy every row of the ``.npy`` at ``src`` into the first rows of ``dst`` in blocks (bounded RAM)."""
    source = open_memory_file(src)
    n = source.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        dst[start:stop] = source[start:stop]
