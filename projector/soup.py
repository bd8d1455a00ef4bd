"""Average projectors trained by one recipe from one start: a uniform "model soup" (Wortsman et al. 2022).

Fine-tuned runs that share a start and differ only in seed (data order) tend to sit in one basin, where the mean of
their weights can read better than either. Every tensor is averaged as it is, except a reader adapter's: each run
draws its own ``down`` matrices at its seed, so the mean of the factors would not be the mean of the deltas
``up @ down``. Stacking them is exact, ``mean_i(up_i @ down_i) = [up_1 … up_n] / n @ [down_1; …; down_n]``: the
soup's adapter has rank ``n·r`` and ``alpha`` scaled with it, so ``alpha / rank`` is kept. An adapter's dropout is a
training setting, not part of what its weights mean: ingredients may differ in it, and the soup (made to be read,
not trained) has none. Measured in docs/results.md, "A second seed of the higher learning rate".

:func:`write_soup` (``squeezerag average-projectors``) saves a soup with its card (``projector.soup_card``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from indexer.atomic import publish, staging_dir
from projector.model import Projector
from projector.reader_adapter import reading_spec
from projector.soup_card import ingredient_record, soup_card
from rag.persistence import PROVENANCE_FIELDS

logger = logging.getLogger(__name__)


def architecture(projector: Projector) -> dict[str, Any]:
    """The config fields that decide what the weights mean: everything but provenance (the training record) and the
    reader adapter's training-only settings."""
    fields = {k: v for k, v in asdict(projector.config).items() if k not in PROVENANCE_FIELDS}
    if fields.get("reader_adapter"):
        fields["reader_adapter"] = reading_spec(fields["reader_adapter"])
    return fields


def average_projectors(projectors: Sequence[Projector], sources: Sequence[str]) -> Projector:
    """One projector whose output is that of the mean of ``projectors``' weights (float32), reader adapters stacked.

    ``sources`` names each ingredient (its folder) for error messages and the soup's training record, which is the
    first ingredient's with ``averaged_from`` (the folders) and ``ingredients`` (what the card shows of each)
    added. Refuses fewer than two, or projectors of different
    architectures (their configs must be equal but for the training record)."""
    if len(projectors) < 2 or len(projectors) != len(sources):
        raise ValueError(f"average two or more projectors, each with its source: got {len(projectors)} projectors "
                         f"and {len(sources)} sources")
    first = architecture(projectors[0])
    for source, other in zip(sources[1:], projectors[1:]):
        differ = sorted(k for k, v in architecture(other).items() if first[k] != v)
        if differ:
            raise ValueError(f"{source} differs from {sources[0]} in {differ}: only projectors of one architecture "
                             "average; train the ingredients with one command that differs only in --seed")
    config = replace(projectors[0].config,
                     training={**projectors[0].config.training, "averaged_from": list(sources),
                               "ingredients": [ingredient_record(p.config, s) for p, s in zip(projectors, sources)]})
    if config.reader_adapter:
        n, spec = len(projectors), reading_spec(config.reader_adapter)
        config.reader_adapter = {**spec, "rank": n * int(spec["rank"]), "alpha": n * float(spec["alpha"])}
    soup = Projector(config)
    soup.load_state_dict(_averaged_state([p.state_dict() for p in projectors]))
    return soup.eval()


def write_soup(out: str | Path, sources: Sequence[str | Path]) -> Projector:
    """Average the projectors saved in ``sources`` and write the soup (fp16, as shipped) with its ``README.md`` card
    to ``out``, a new or empty folder. Written in a staging folder and renamed into place: a failure leaves no
    half-written soup."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder. Fix: choose a new folder for the soup, or "
                              "remove that one first.")
    names = [str(s) for s in sources]
    soup = average_projectors([Projector.from_pretrained(s) for s in names], names)
    with staging_dir(out) as staging:
        soup.save_pretrained(staging, dtype=torch.float16)
        (staging / "README.md").write_text(soup_card(soup.config, str(out)), encoding="utf-8")
    publish(staging, out, overwrite=False)
    logger.info("averaged %d projectors into %s", len(names), out)
    return soup


def _averaged_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The soup's state dict: each tensor's mean over ``states``, adapter factors stacked (module docstring)."""
    averaged = {}
    for key in states[0]:
        tensors = [s[key].float() for s in states]
        if key.startswith("reader_adapter.") and key.endswith(".down.weight"):  # (rank, d_in) each
            averaged[key] = torch.cat(tensors, dim=0)
        elif key.startswith("reader_adapter.") and key.endswith(".up.weight"):  # (d_out, rank) each
            averaged[key] = torch.cat(tensors, dim=1) / len(tensors)
        else:
            averaged[key] = torch.stack(tensors).mean(0)
    return averaged
