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

from projector.alignment import AlignConfig
from projector.window_distill import DistillConfig
from projector.wordpiece_recipe import WordpieceRecipeConfig
from rag.cli import build_parser

WEIGHTS = Path(__file__).resolve().parents[2] / "projector" / "weights"
CARDS = sorted(WEIGHTS.glob("*/README.md"))

# what no train-wordpieces flag sets (fixed defaults, and settings that change what is logged, not the weights)
NOT_ON_THE_COMMAND_LINE = {"align": ("batch_size", "lr", "weight_decay"),
                           "distill": ("weight_decay", "warmup", "temperature", "top_k", "grad_clip",
                                       "checkpoint_every", "val_questions", "val_accuracy")}
DEFAULTS = {**json.loads(json.dumps(asdict(WordpieceRecipeConfig(dataset="")))),  # every stored recipe has one
            "align": asdict(AlignConfig()), "distill": asdict(DistillConfig())}


def _reproduce_commands(card: Path) -> list[str]:
    """The ``squeezerag`` lines of the card's Reproduce code block."""
    block = card.read_text().split("## Reproduce")[1].split("```bash\n")[1].split("\n```")[0]
    return [line for line in block.splitlines() if line.startswith("squeezerag ")]


def _comparable(recipe: dict, continued: bool) -> dict:
    """``recipe`` as JSON, without what the command line cannot set and what a continued run does not use."""
    recipe = json.loads(json.dumps(recipe))
    recipe["init_from"] = None  # where a run starts from is a local path
    if not recipe["reader_adapter"]:
        recipe["adapter_targets"] = None  # no adapter: its targets are unused
    if continued:  # a continued run skips alignment, and its card leaves the alignment flags out
        recipe["align"] = {}
    for part, names in NOT_ON_THE_COMMAND_LINE.items():
        for name in names:
            recipe[part].pop(name, None)
    return recipe


def _with_defaults(stored: dict) -> dict:
    """``stored`` with the fields its code predates filled in with today's defaults."""
    filled = {**DEFAULTS, **stored}
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
    from projector.cli_wordpieces import _recipe_config

    command = _reproduce_commands(card)[-1]
    parsed = asdict(_recipe_config(build_parser().parse_args(shlex.split(command)[1:])))
    stored = json.loads((card.parent / "config.json").read_text())["training"]["recipe"]
    continued = stored.get("init_from") is not None
    assert (parsed["init_from"] is not None) == continued
    assert _comparable(parsed, continued) == _comparable(_with_defaults(stored), continued)
