"""The shipped projectors' model cards still say how to train them, with today's CLI.

A card's Reproduce command was written by the code of its day; flags added since then must default to what that
code did, or the command would silently train something else. Each shipped ``train-wordpieces`` card's command,
parsed now, must give the recipe its ``config.json`` records, and a recipe field the weights predate must take the
dataclass default (the convention for a new field: its default keeps the old behaviour).
"""

import json
import shlex
from dataclasses import asdict
from pathlib import Path

import pytest
from recipe_commands import comparable, parsed_recipe, reproduce_block

from projector.alignment import AlignConfig
from projector.window_distill import DistillConfig
from projector.wordpiece_recipe import WordpieceRecipeConfig
from rag.cli import build_parser

WEIGHTS = Path(__file__).resolve().parents[2] / "projector" / "weights"
CARDS = sorted(WEIGHTS.glob("*/README.md"))

DEFAULTS = {**json.loads(json.dumps(asdict(WordpieceRecipeConfig(dataset="")))),  # every stored recipe has one
            "align": asdict(AlignConfig()), "distill": asdict(DistillConfig())}


def _reproduce_commands(card: Path) -> list[str]:
    """The ``squeezerag`` lines of the card's Reproduce code block."""
    return [line for line in reproduce_block(card.read_text()) if line.startswith("squeezerag ")]


def _with_defaults(stored: dict) -> dict:
    """``stored`` with the fields its code predates filled in with today's defaults."""
    filled = {**DEFAULTS, **stored}
    if not filled["reader_adapter"]:  # older code stored no targets without an adapter; unused either way
        filled["adapter_targets"] = DEFAULTS["adapter_targets"]
    for part in ("align", "distill"):
        filled[part] = {**DEFAULTS[part], **stored.get(part, {})}
    return filled


@pytest.mark.parametrize("card", CARDS, ids=[c.parent.name for c in CARDS])
def test_every_reproduce_command_parses(card):
    commands = _reproduce_commands(card)
    assert commands, f"{card} has no squeezerag command under Reproduce"
    for command in commands:
        build_parser().parse_args(shlex.split(command)[1:])  # exits (fails the test) on an unknown flag


WORDPIECE_CARDS = [c for c in CARDS if _reproduce_commands(c)[-1].startswith("squeezerag train-wordpieces ")]


@pytest.mark.parametrize("card", WORDPIECE_CARDS, ids=[c.parent.name for c in WORDPIECE_CARDS])
def test_the_last_reproduce_command_gives_the_shipped_recipe(card):
    parsed = parsed_recipe(_reproduce_commands(card)[-1])
    stored = json.loads((card.parent / "config.json").read_text())["training"]["recipe"]
    continued = stored.get("init_from") is not None
    assert (parsed["init_from"] is not None) == continued
    assert comparable(parsed, continued) == comparable(_with_defaults(stored), continued)
