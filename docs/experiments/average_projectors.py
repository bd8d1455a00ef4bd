"""Average the weights of projectors trained by one recipe from one start (a uniform "model soup").

Fine-tuned runs that share a start and differ only in seed (data order) tend to sit in one basin, where the average
of their weights can be better than either (Wortsman et al. 2022, "Model soups"). Every projector must have the
same architecture (its config equal but for ``training``); the first one's config is written with the averaged
weights, its ``training`` record naming the ingredients.

A reader adapter is averaged by its deltas, not its factors: each run draws its own ``down`` at its seed, so the
mean of the ``up`` and ``down`` matrices would not be the mean of ``up @ down``. Stacking them is exact:
``mean_i(up_i @ down_i) = [up_1 … up_n] / n @ [down_1; …; down_n]``, an adapter of rank ``n·r`` (``alpha``
scaled with it, so ``alpha / rank`` is kept)::

    python docs/experiments/average_projectors.py runs/soup projector/weights/default runs/rt-p16j-s1/final
    squeezerag bench ... --projector runs/soup
"""

import argparse
import logging
from dataclasses import asdict, replace
from pathlib import Path

import torch

from projector import Projector
from rag.persistence import PROVENANCE_FIELDS

logger = logging.getLogger(__name__)


def architecture(projector: Projector) -> dict:
    """The config fields that decide what the weights mean (everything but provenance: the training record)."""
    return {k: v for k, v in asdict(projector.config).items() if k not in PROVENANCE_FIELDS}


def average_projectors(folders: list[str]) -> Projector:
    """One projector whose every tensor is the mean of the ``folders``' tensors (float32)."""
    projectors = [Projector.from_pretrained(f) for f in folders]
    first = projectors[0]
    for folder, other in zip(folders[1:], projectors[1:]):
        if architecture(other) != architecture(first):
            differ = sorted(k for k, v in architecture(other).items() if architecture(first)[k] != v)
            raise SystemExit(f"{folder} differs from {folders[0]} in {differ}: only projectors of one architecture "
                             "average")
    states = [p.state_dict() for p in projectors]
    config = replace(first.config, training={**first.config.training, "averaged_from": list(folders)})
    if config.reader_adapter:
        n, spec = len(states), config.reader_adapter
        config.reader_adapter = {**spec, "rank": n * int(spec["rank"]), "alpha": n * float(spec["alpha"])}
    averaged = {}
    for k in states[0]:
        tensors = [s[k].float() for s in states]
        if k.startswith("reader_adapter.") and k.endswith(".down.weight"):  # (rank, d_in) each
            averaged[k] = torch.cat(tensors, dim=0)
        elif k.startswith("reader_adapter.") and k.endswith(".up.weight"):  # (d_out, rank) each
            averaged[k] = torch.cat(tensors, dim=1) / len(tensors)
        else:
            averaged[k] = torch.stack(tensors).mean(0)
    soup = Projector(config)
    soup.load_state_dict(averaged)
    return soup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder for the averaged projector")
    parser.add_argument("projectors", nargs="+", help="projector folders of one architecture (two or more)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if len(args.projectors) < 2:
        raise SystemExit("pass two or more projector folders to average")
    average_projectors(args.projectors).save_pretrained(Path(args.out), dtype=torch.float16)
    logger.info("averaged %d projectors into %s", len(args.projectors), args.out)


if __name__ == "__main__":
    main()
