"""Atomic index directories: build in a hidden staging folder next to the target, then rename into place.

A crash or an exception while building leaves the previous index untouched (only a hidden
``.<name>.tmp-*`` folder may remain after a hard kill). Replacing an existing index takes two renames
(old aside, new in), microseconds apart; the old one is deleted only after the new one is in place.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.manifest import MANIFEST_FILE

logger = logging.getLogger(__name__)


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse an existing non-empty ``target`` unless ``overwrite``; never replace a folder that is no index."""
    if not target.exists():
        return
    if not target.is_dir():
        raise FileExistsError(f"{target} exists and is a file. Fix: choose another output directory.")
    if not any(target.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"Index directory {target} already exists. Fix: pass overwrite=True "
                              "(`--overwrite`) to replace it, or choose another directory.")
    if not (target / MANIFEST_FILE).is_file():
        raise FileExistsError(f"{target} is not empty and is not a squeezerag index (no {MANIFEST_FILE}); "
                              "refusing to replace it even with overwrite=True. Fix: choose a new or empty "
                              "directory.")


@contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A fresh hidden folder beside ``target`` (same filesystem, so the final rename is atomic).

    Removed when the block raises; on success the caller :func:`publish`-es it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, target: Path, overwrite: bool = True) -> None:
    """Move the complete ``staging`` folder to ``target``, replacing an existing index there."""
    old: Path | None = None
    try:
        check_target(target, overwrite)  # again: the target may have appeared while we were building
    except FileExistsError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            old.rmdir()  # only the unique name is wanted; rename needs a free path
            os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        if old is not None:
            os.rename(old, target)  # put the previous index back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    logger.debug("Published %s", target)
