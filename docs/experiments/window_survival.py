"""How often the gold answer survives in the selected windows of the retrieved passages (no LLM).

    python docs/experiments/window_survival.py W [SCORER_DIR ...]

For each question set of docs/results.md (200 questions, seed 0, top-3 retrieval over the set's own paragraphs, as
`squeezerag bench`), prints the fraction of questions whose gold answer occurs in the text the LLM would read:
the full passages, the untrained max-sim rule's windows, and for each scorer its per-passage and global
windows (rag.selection / rag.window_allocation, the code the selected_text mode runs).
"""
import sys

import numpy as np

from eval.dataset_index import dataset_index
from eval.datasets import load_qa
from eval.metrics import has_answer
from eval.runner import select_records
from indexer import load_embedder
from rag.selection import WindowConfig, select_windows
from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES
from rag.window_scorer import WindowScorer

SQUAD = "../shared/data/squad/squad-v1.1-dev-pool.json"


def main(width: int, scorer_dirs: list[str]) -> None:
    embedder = load_embedder()
    arms = [("max-sim rule", None, "per_passage")]
    for folder in scorer_dirs:
        scorer = WindowScorer.from_pretrained(folder)
        arms += [(f"{folder} per passage", scorer, "per_passage"), (f"{folder} global", scorer, "global")]
    for name, articles in (("validation", VALIDATION_ARTICLES), ("second set", SECOND_SET_ARTICLES)):
        records = load_qa(SQUAD, articles=list(articles))
        selected = select_records(records, 200, 0)
        hits = dataset_index(records, embedder=embedder, progress=False).search([r.question for r in selected], k=3)
        questions, texts = [r.question for r in selected], [[h.text for h in hs] for hs in hits]
        full = np.mean([has_answer(" ".join(t), r.answers) for t, r in zip(texts, selected)])
        print(f"{name}: full passages {full:.3f}", flush=True)
        for label, scorer, allocation in arms:
            windows = select_windows(embedder, questions, texts, WindowConfig(width=width, allocation=allocation),
                                     scorer)
            rate = np.mean([has_answer(" ".join(w), r.answers) for w, r in zip(windows, selected)])
            print(f"  W={width} {label}: {rate:.3f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
