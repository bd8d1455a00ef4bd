"""The window-distillation accuracy probe (``projector.window_distill.validation_accuracy``) on finished projectors.

Builds the recipe's validation examples (validation articles, top-3 retrieval over their own paragraphs, the
shipped window scorer; only questions whose windows hold the answer), answers the first N through each projector
as a checkpoint does, and prints the accuracy and the time it took; with ``--losses``, also the checkpoint's
validation losses on them, the reading KL included (``reader_tokens`` projectors)::

    python docs/experiments/validation_accuracy_probe.py --questions 64 projector/weights/default runs/X/final
"""

import argparse
import logging
import time

from eval.datasets import load_qa
from eval.records import filter_articles
from indexer import load_embedder
from projector import Projector
from projector.window_distill import DistillConfig, validation_accuracy, validation_loss
from projector.wordpiece_recipe import WordpieceRecipeConfig, recipe_window_examples
from rag.defaults import SHARED_SQUAD
from rag.demo_index import default_window_scorer_dir
from rag.llm import LLM
from rag.token_states import ALL_LAYERS
from rag.window_scorer import WindowScorer

logger = logging.getLogger("validation_accuracy_probe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("projectors", nargs="+", help="projector folders (every-layer window projectors)")
    parser.add_argument("--questions", type=int, default=DistillConfig().val_questions)
    parser.add_argument("--losses", action="store_true", help="also the validation NLL, KL and reading KL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    recipe = WordpieceRecipeConfig(dataset=str(SHARED_SQUAD), token_layers=ALL_LAYERS)
    llm, embedder = LLM.load(recipe.llm), load_embedder(recipe.embedder)
    scorer = WindowScorer.from_pretrained(default_window_scorer_dir())
    val = filter_articles(load_qa(recipe.dataset), recipe.val_articles)
    examples = recipe_window_examples(recipe, embedder, scorer, val, training=False, progress=False)
    probe = examples[:args.questions]
    logger.info("%d validation questions, %d keep the answer in their windows; the probe answers %d",
                len(val), len(examples), len(probe))
    for folder in args.projectors:
        start = time.perf_counter()
        projector = Projector.from_pretrained(folder)
        accuracy = validation_accuracy(llm, projector, probe, DistillConfig())["val_acc"]
        logger.info("%s: val accuracy %.3f (%.1f s)", folder, accuracy, time.perf_counter() - start)
        if args.losses:
            losses = validation_loss(llm, projector, probe, DistillConfig(reading_weight=1.0))
            logger.info("%s: %s", folder, ", ".join(f"{k} {v:.3f}" for k, v in losses.items()))


if __name__ == "__main__":
    main()
