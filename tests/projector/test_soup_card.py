"""The soup's card: built from what the soup records of each ingredient, its commands make the soup again."""

import json
import re
from dataclasses import replace
from pathlib import Path

from tiny_projector import adapted_window_projector

from projector.soup import average_projectors
from projector.soup_card import soup_card

SHIPPED = Path(__file__).parents[2] / "projector" / "weights" / "default" / "config.json"


def _with_seed(projector, training: dict, seed: int):
    """``projector`` carrying the shipped projector's training record, as if trained by its recipe at ``seed``."""
    distill = {**training["recipe"]["distill"], "seed": seed}
    projector.config = replace(projector.config, training={**training, "recipe": {**training["recipe"],
                                                                                     "distill": distill}})
    return projector


def test_the_card_trains_each_ingredient_where_its_averaging_command_reads_it(tiny_llm):
    training = json.loads(SHIPPED.read_text())["training"]
    a = _with_seed(adapted_window_projector(tiny_llm, 0), training, 2)
    b = _with_seed(adapted_window_projector(tiny_llm, 1), training, 3)
    soup = average_projectors([a, b], ["runs/seed-2/final", "projector/weights/seed-3"])
    card = soup_card(soup.config, "runs/soup")
    block = card.split("```bash\n")[1].split("```")[0].splitlines()
    trains = [line for line in block if line.startswith("squeezerag train-wordpieces")]
    average = block[-1].split()
    assert average[:3] == ["squeezerag", "average-projectors", "runs/soup"]
    # the shared earlier steps once, then one run per ingredient, each landing where the average reads it
    assert len(trains) == len(training["lineage"]) + 2
    outs = [re.search(r"--out (\S+)", line).group(1) + "/final" for line in trains[-2:]]
    assert outs == average[3:] == ["runs/seed-2/final", "runs/seed-3/final"]
    assert [re.search(r"--seed (\d+)", line).group(1) for line in trains[-2:]] == ["2", "3"]
    last = training["history"][-1]
    assert f"| 1 | `runs/seed-2/final` | 2 | {last['step']} | {last['val_nll']:.3f} |" in card
    assert "rank 4" in card  # two rank-2 adapters stacked


def test_ingredients_without_a_recipe_record_are_averaged_from_where_they_are(tiny_llm):
    a, b = adapted_window_projector(tiny_llm, 0), adapted_window_projector(tiny_llm, 1)
    soup = average_projectors([a, b], ["mine/a", "mine/b"])
    card = soup_card(soup.config, "out")
    assert "squeezerag average-projectors out mine/a mine/b" in card
    assert "train-wordpieces" not in card


def test_a_soup_among_the_ingredients_is_read_from_where_it_is_and_claims_no_seed(tiny_llm):
    training = json.loads(SHIPPED.read_text())["training"]
    a = _with_seed(adapted_window_projector(tiny_llm, 0), training, 2)
    b = _with_seed(adapted_window_projector(tiny_llm, 1), training, 3)
    inner = average_projectors([a, b], ["runs/a/final", "runs/b/final"])
    c = _with_seed(adapted_window_projector(tiny_llm, 2), training, 4)
    c.config = replace(c.config, reader_adapter=inner.config.reader_adapter)  # rank 4, as the inner soup's
    c.reader_adapter = inner.reader_adapter
    outer = average_projectors([c, inner], ["runs/c/final", "runs/inner-soup"])
    (record_c, record_inner) = outer.config.training["ingredients"]
    assert record_c["seed"] == 4 and record_c["commands"]
    assert record_inner["seed"] is None and not record_inner["commands"] and record_inner["last_checkpoint"] is None
    assert soup_card(outer.config, "out").rstrip().count("squeezerag average-projectors out runs/c/final "
                                                         "runs/inner-soup") == 1
