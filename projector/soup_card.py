"""Model card (README.md) of a projector soup (``projector.soup``), written from the soup's training record.

The soup keeps the first ingredient's training record; what the card needs of every ingredient (folder, seed, last
validation checkpoint, the commands that trained it) is recorded beside it by :func:`ingredient_record` while the
ingredients are at hand, since their own records are not kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from projector.config import ProjectorConfig
from projector.wordpiece_card import distill_checkpoints, reproduce_lines

CHECKPOINT_KEYS = ("step", "val_nll", "val_kl", "val_acc")


def ingredient_record(config: ProjectorConfig, source: str) -> dict[str, Any]:
    """One ingredient as its soup's card shows it: ``path``, ``seed``, ``last_checkpoint`` (its last validation
    losses) and ``commands``, the lines that train it again into ``trained_at`` (window projectors of
    ``squeezerag train-wordpieces`` only; empty for others, whose own cards say how they were made). An ingredient
    that is itself a soup has no seed, checkpoint or commands of its own (its record is its first ingredient's)."""
    t = config.training
    recipe = t.get("recipe", {})
    soup = "averaged_from" in t
    checkpoints = [] if soup else distill_checkpoints(t.get("history", []))
    trainable = "distill" in recipe and not soup
    run = Path(source).parent if Path(source).name == "final" else Path("runs") / Path(source).name
    return {"path": source,
            "seed": None if soup else recipe.get("distill", {}).get("seed", recipe.get("seed")),
            "last_checkpoint": {k: checkpoints[-1][k] for k in CHECKPOINT_KEYS if k in checkpoints[-1]}
            if checkpoints else None,
            "commands": reproduce_lines(config, str(run)) if trainable else [],
            "trained_at": str(run / "final") if trainable else source}


def soup_card(config: ProjectorConfig, out: str) -> str:
    """Markdown: what the soup is, its ingredients and their last validation losses, and how to make it again
    (``out``: the folder the soup was written to, for the averaging command)."""
    ingredients = config.training["ingredients"]
    adapter = config.reader_adapter
    lines = [
        f"# squeezerag projector soup: {len(ingredients)} projectors averaged", "",
        f"{config.embedder_id} -> {config.llm_id} (`{config.memory_encoding}`). The uniform mean of the weights of "
        f"{len(ingredients)} projectors of one architecture, trained by one recipe from one start and differing in "
        "seed (a \"model soup\", Wortsman et al. 2022); read it like any projector (`--projector`)."
        + (f" Reader adapter: the ingredients' rank-{adapter['rank'] // len(ingredients)} adapters stacked into one "
           f"of rank {adapter['rank']} (alpha {adapter['alpha']:g}), whose delta is exactly the mean of theirs."
           if adapter else "")
        + " Weights fp16.", "",
        "## Ingredients", "",
        "Each one's last validation checkpoint in its own training run (the soup itself was not trained, so it has "
        "no curve); each folder's own card has its data and curves.", "",
        "| # | folder | seed | step | val NLL | val KL | val accuracy |", "| --- | --- | --- | --- | --- | --- | --- |",
        *[_ingredient_row(i, ingredient) for i, ingredient in enumerate(ingredients, 1)], "",
        "## Reproduce", "",
        "```bash", *_reproduce_lines(ingredients, out), "```", "",
        "Benchmark it as any projector: `squeezerag bench ... --projector " + out + "`. A soup can read better than "
        "its ingredients on one question set and worse on another: pick it on held-out questions, not on the "
        "ingredients' validation losses.",
    ]
    return "\n".join(lines) + "\n"


def _ingredient_row(i: int, ingredient: dict[str, Any]) -> str:
    last = ingredient["last_checkpoint"] or {}
    cells = [f"{last[k]:.3f}" if k in last else "" for k in CHECKPOINT_KEYS[1:]]
    seed = "" if ingredient["seed"] is None else str(ingredient["seed"])
    return f"| {i} | `{ingredient['path']}` | {seed} | {last.get('step', '')} | " + " | ".join(cells) + " |"


def _reproduce_lines(ingredients: list[dict[str, Any]], out: str) -> list[str]:
    """The ingredients' shared earlier steps once, each ingredient's own run, then the averaging command."""
    average = "squeezerag average-projectors " + " ".join([out, *(i["trained_at"] for i in ingredients)])
    if not any(i["commands"] for i in ingredients):
        return [average]
    first = ingredients[0]["commands"]
    shared, step = first[:-2], len(first[:-2]) // 2 + 1  # lineage: a comment and a command per earlier step
    own = [line for i in ingredients for line in i["commands"][-1:]]
    return [*shared, f"# {step}. the ingredients, one run each", *own, f"# {step + 1}. the soup", average]
