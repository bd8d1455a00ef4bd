"""Model cards' Reproduce commands, parsed by today's CLI and compared with a recipe (shared by the projector tests)."""

import json
import shlex
from dataclasses import asdict

# what no train-wordpieces flag sets (fixed defaults, and settings that change what is logged, not the weights)
NOT_ON_THE_COMMAND_LINE = {"align": ("batch_size", "lr", "weight_decay"),
                           "distill": ("weight_decay", "warmup", "temperature", "top_k", "grad_clip",
                                       "checkpoint_every", "val_questions", "val_accuracy")}


def reproduce_block(card: str) -> list[str]:
    """The lines of the model card's Reproduce code block."""
    return card.split("## Reproduce")[1].split("```bash\n")[1].split("\n```")[0].splitlines()


def parsed_recipe(command: str) -> dict:
    """The ``WordpieceRecipeConfig`` (as a dict) that the ``squeezerag train-wordpieces`` ``command`` sets up."""
    from projector.cli_wordpieces import _recipe_config
    from rag.cli import build_parser

    return asdict(_recipe_config(build_parser().parse_args(shlex.split(command)[1:])))


def comparable(recipe: dict, continued: bool) -> dict:
    """``recipe`` as JSON, without what the command line cannot set and what a continued run does not use."""
    recipe = json.loads(json.dumps(recipe))
    recipe["init_from"], recipe["adapter_targets"] = None, sorted(recipe["adapter_targets"])  # init_from: a local path
    if continued:  # a continued run skips alignment, and its card leaves the alignment flags out
        recipe["align"] = {}
    for part, names in NOT_ON_THE_COMMAND_LINE.items():
        for name in names:
            recipe[part].pop(name, None)
    return recipe
