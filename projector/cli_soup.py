"""``squeezerag average-projectors``: a model soup of projectors from the command line (``projector.soup``)."""

from __future__ import annotations

import argparse
import sys


def add_average_parser(sub) -> None:
    p = sub.add_parser("average-projectors",
                       help="average projectors trained by one recipe, differing in seed (a model soup)")
    p.add_argument("out", help="folder for the soup (new or empty): weights, config.json, README.md card")
    p.add_argument("projectors", nargs="+", help="two or more projector folders of one architecture")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_average)


def run_average(args: argparse.Namespace) -> int:
    from projector.soup import write_soup

    try:
        write_soup(args.out, args.projectors)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Soup of {len(args.projectors)} projectors at {args.out}")
    return 0
