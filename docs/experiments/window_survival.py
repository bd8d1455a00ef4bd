"""How often the gold answer survives in the selected windows of the retrieved passages (no LLM).

    python docs/experiments/window_survival.py W ... [--scorer SCORER_DIR ...]
    python docs/experiments/window_survival.py 6 8 12 --scorer rag/weights/window_scorer --global-only \\
        --k 3 5 --windows 3 4 --limit 5000

For each question set of docs/results.md (a seeded sample, default 200 questions of seed 0; top-k retrieval over
the set's own paragraphs, as `squeezerag bench`), prints the fraction of questions whose gold answer occurs in the
text the LLM would read: the full passages, the untrained max-sim rule's windows, and for each scorer its
per-passage and global windows (rag.selection / rag.window_allocation, the code the selected_text and window
compressed modes run), for every width W, retrieval depth k and, under global allocation, window budget
(`--windows`, default one per passage), with the wordpieces read per question. docs/results.md, "A trained
window scorer" and "Wider and more windows".
"""
import argparse

import numpy as np

from eval.dataset_index import dataset_index
from eval.datasets import load_qa
from eval.metrics import has_answer
from eval.runner import select_records
from indexer import load_embedder
from rag.selection import WindowConfig, windows_of_states
from rag.token_states import TokenStates, token_states
from rag.window_recipe import SECOND_SET_ARTICLES, VALIDATION_ARTICLES
from rag.window_scorer import WindowScorer

SQUAD = "../shared/data/squad/squad-v1.1-dev-pool.json"


def arms(scorer_dirs: list[str], global_only: bool) -> list[tuple[str, WindowScorer | None, str]]:
    """(label, scorer, allocation) of every window selection compared."""
    out = [] if global_only else [("max-sim rule", None, "per_passage")]
    for folder in scorer_dirs:
        scorer = WindowScorer.from_pretrained(folder).eval()
        out += [] if global_only else [(f"{folder} per passage", scorer, "per_passage")]
        out.append((f"{folder} global", scorer, "global"))
    return out


def survival(embedder, selected, texts: list[list[str]], states: list[list[TokenStates]], config: WindowConfig,
             scorer) -> tuple[float, float]:
    """Share of questions whose answer is in their windows, and wordpieces read per question."""
    windows = windows_of_states(embedder, [r.question for r in selected], texts, states, config, scorer)
    found = [has_answer(" ".join(w.text for w in ws), r.answers) for ws, r in zip(windows, selected)]
    return float(np.mean(found)), float(np.mean([sum(w.span[1] - w.span[0] for w in ws) for ws in windows]))


def main(args: argparse.Namespace) -> None:
    embedder = load_embedder()
    compared = arms(args.scorer, args.global_only)
    for name, articles in (("validation", VALIDATION_ARTICLES), ("second set", SECOND_SET_ARTICLES)):
        records = load_qa(SQUAD, articles=list(articles))
        selected = select_records(records, args.limit, args.seed)
        index = dataset_index(records, embedder=embedder, progress=False)
        hits = index.search([r.question for r in selected], k=max(args.k))
        distinct = sorted({h.text for hs in hits for h in hs})
        computed = dict(zip(distinct, token_states(embedder, distinct)))  # once, not once per setting
        for k in args.k:
            texts = [[h.text for h in hs[:k]] for hs in hits]
            states = [[computed[t] for t in ts] for ts in texts]
            full = np.mean([has_answer(" ".join(t), r.answers) for t, r in zip(texts, selected)])
            print(f"{name}, {len(selected)} questions, k={k}: full passages {full:.3f}", flush=True)
            for width in args.widths:
                for label, scorer, allocation in compared:
                    budgets = args.windows if allocation == "global" else [None]
                    for n in budgets:
                        config = WindowConfig(width=width, allocation=allocation, windows=n)
                        rate, pieces = survival(embedder, selected, texts, states, config, scorer)
                        budget = f" windows={n or k}" if allocation == "global" else ""
                        print(f"  W={width}{budget} {label}: {rate:.3f} ({pieces:.1f} wordpieces)", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("widths", type=int, nargs="+", metavar="W", help="window widths in wordpieces")
    ap.add_argument("--scorer", nargs="+", default=[], help="window scorer folders")
    ap.add_argument("--global-only", action="store_true", help="only the scorers' global allocation")
    ap.add_argument("--k", type=int, nargs="+", default=[3], help="retrieval depths")
    ap.add_argument("--windows", type=int, nargs="+", default=[None], help="global allocation: windows per question")
    ap.add_argument("--limit", type=int, default=200, help="questions per set (seeded sample; 5000: all)")
    ap.add_argument("--seed", type=int, default=0)
    main(ap.parse_args())
