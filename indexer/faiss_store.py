"""FAISS side of the index: factory strings, training on a sample, search parameters, optional GPU.

Every index uses ``METRIC_INNER_PRODUCT`` over L2-normalised vectors, so scores are cosine similarities
(``"Flat"`` is exact search). Indexes are always written to disk from CPU; a GPU copy is made only for
searching when ``faiss.get_num_gpus() > 0``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import faiss
import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

# Vectors added per call: keeps the fp32 copy of a memory-mapped block small.
_ADD_BLOCK = 65536
# k-means quality saturates around this many points per list; more only slows training.
_TRAIN_POINTS_PER_LIST = 256
_TRAIN_POINTS_NON_IVF = 65536
DEFAULT_EF_SEARCH = 128


def create_index(factory: str, dim: int) -> faiss.Index:
    """An empty index for ``factory`` (e.g. ``"Flat"``, ``"HNSW32"``, ``"IVF1024,PQ16"``) over ``dim`` dims."""
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1]
        raise ValueError(f"Invalid FAISS factory string {factory!r} for dimension {dim} ({reason}). Fix: use "
                         "e.g. 'Flat' (exact), 'HNSW32', 'IVF1024,Flat' or 'IVF1024,PQ16'.") from None


def ivf_nlist(index: faiss.Index) -> int | None:
    """Number of inverted lists of an IVF index (also inside a pre-transform), else ``None``."""
    try:
        return int(faiss.extract_index_ivf(index).nlist)
    except RuntimeError:
        return None


def train_index(index: faiss.Index, vectors: np.ndarray, seed: int = 0) -> None:
    """Train ``index`` on a random sample of ``vectors`` ``(n, d)`` (may be memory-mapped); no-op if trained."""
    if index.is_trained:
        return
    n = vectors.shape[0]
    nlist = ivf_nlist(index)
    if nlist is not None and n < nlist:
        raise ValueError(f"The FAISS index needs at least nlist={nlist} vectors to train but the corpus has {n} "
                         f"passages. Fix: use fewer lists (e.g. 'IVF{max(1, n // 39)},...'), or 'Flat'.")
    size = min(n, _TRAIN_POINTS_PER_LIST * nlist if nlist else _TRAIN_POINTS_NON_IVF)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    sample = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    logger.info("Training FAISS index on %d of %d vectors", size, n)
    try:
        index.train(sample)
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1]
        raise ValueError(f"Training the FAISS index failed on {size} vectors ({reason}). Fix: use a smaller "
                         "index (fewer IVF lists, fewer PQ bits such as 'PQ16x4') or 'Flat' for small "
                         "corpora.") from None


def add_vectors(index: faiss.Index, vectors: np.ndarray, progress: bool = False) -> None:
    """Append ``vectors`` ``(n, d)`` in blocks; FAISS ids continue from ``index.ntotal``."""
    n = vectors.shape[0]
    with tqdm(total=n, desc="Indexing", unit="vec", disable=not progress or n <= _ADD_BLOCK) as bar:
        for start in range(0, n, _ADD_BLOCK):
            block = np.ascontiguousarray(vectors[start:start + _ADD_BLOCK], dtype=np.float32)
            index.add(block)
            bar.update(len(block))


def default_search_params(index: faiss.Index) -> dict[str, int]:
    """Sensible defaults: ``nprobe ~ sqrt(nlist)`` (at least 8) for IVF, ``efSearch=128`` for HNSW."""
    params: dict[str, int] = {}
    nlist = ivf_nlist(index)
    if nlist is not None:
        params["nprobe"] = min(nlist, max(8, round(math.sqrt(nlist))))
    if _hnsw(index) is not None:
        params["efSearch"] = DEFAULT_EF_SEARCH
    return params


def set_search_params(index: faiss.Index, params: dict[str, int]) -> None:
    """Apply ``{"nprobe": ..., "efSearch": ...}``; parameters the index does not have are ignored."""
    space = faiss.ParameterSpace()
    for name, value in params.items():
        try:
            space.set_index_parameter(index, name, int(value))
        except RuntimeError:
            logger.debug("FAISS index %s has no parameter %s", type(index).__name__, name)


def _hnsw(index: faiss.Index) -> faiss.IndexHNSW | None:
    index = faiss.downcast_index(index)
    return index if isinstance(index, faiss.IndexHNSW) else None


def ensure_ef_search(index: faiss.Index, k: int) -> None:
    """HNSW returns fewer than ``k`` results when ``efSearch < k``: raise it as needed."""
    hnsw = _hnsw(index)
    if hnsw is not None and hnsw.hnsw.efSearch < k:
        hnsw.hnsw.efSearch = k


def exact_search_flops(index: faiss.Index) -> float | None:
    """FLOPs of one query's search over an exhaustive (``Flat``) index: one ``d``-dimensional inner product
    per stored vector, ``2·ntotal·d`` (the top-k selection's comparisons left out). None for an approximate
    index, whose cost depends on its lists or graph and the search parameters."""
    flat = (faiss.IndexFlat,) + ((faiss.GpuIndexFlat,) if hasattr(faiss, "GpuIndexFlat") else ())
    if not isinstance(index, flat):
        return None
    return 2.0 * index.ntotal * index.d


def maybe_to_gpu(index: faiss.Index) -> faiss.Index:
    """A GPU copy of ``index`` for searching when FAISS sees a GPU; the CPU index otherwise (or if unsupported)."""
    if faiss.get_num_gpus() <= 0 or not hasattr(faiss, "index_cpu_to_all_gpus"):
        return index
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except (RuntimeError, AttributeError) as err:  # e.g. HNSW has no GPU version
        logger.info("Keeping the %s index on CPU: %s", type(index).__name__, str(err).splitlines()[-1])
        return index


def write_index(index: faiss.Index, path: Path) -> None:
    """Write a CPU copy of ``index`` (GPU indexes cannot be serialised directly)."""
    if hasattr(faiss, "index_gpu_to_cpu") and "Gpu" in type(index).__name__:
        index = faiss.index_gpu_to_cpu(index)
    faiss.write_index(index, str(path))


def read_index(path: Path) -> faiss.Index:
    """Read an index written by :func:`write_index` (CPU)."""
    return faiss.read_index(str(path))


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` by inner product: scores ``(n, k)`` float32 and rows ``(n, k)`` int64 (``-1`` = no result)."""
    ensure_ef_search(index, k)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
