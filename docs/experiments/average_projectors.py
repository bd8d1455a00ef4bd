"""Average the weights of projectors trained by one recipe from one start (a uniform "model soup").

A thin command over :func:`projector.soup.average_projectors` (which says how reader adapters are stacked so the
soup's delta is exactly the mean of the ingredients'). Every projector must have the same architecture (its
config equal but for ``training`` and the adapter's dropout, a training setting); the first one's training record
is written with the averaged weights, naming the ingredients::

    python docs/experiments/average_projectors.py runs/soup-lr3e3 runs/rt-adapter-lr3e3/final \\
        runs/rt-adapter-lr3e3-s3/final
    squeezerag bench ... --projector runs/soup-lr3e3
"""

import argparse
import logging
from pathlib import Path

import torch

from projector import Projector
from projector.soup import average_projectors

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder for the averaged projector")
    parser.add_argument("projectors", nargs="+", help="projector folders of one architecture (two or more)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        soup = average_projectors([Projector.from_pretrained(f) for f in args.projectors], args.projectors)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    soup.save_pretrained(Path(args.out), dtype=torch.float16)
    logger.info("averaged %d projectors into %s", len(args.projectors), args.out)


if __name__ == "__main__":
    main()
