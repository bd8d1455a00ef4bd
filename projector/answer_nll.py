"""Answer NLL under three views of the same passages: a low-variance measure of what soft tokens carry.

Accuracy on a few hundred questions moves in steps of 0.5% and a 135M LLM rarely answers exactly, so two
short training runs are hard to tell apart by it. The mean NLL of the gold answer given the question with
no context (closed book), with the passages as soft tokens (compressed) and as text (full text) is smooth,
and gives ``NLL recovery = (closed - compressed) / (closed - full)`` on identical examples.

``--task reconstruction`` scores stage-1 targets instead: the NLL of each validation paragraph's first
tokens under its paraphrase instruction with no background, the soft tokens, or the text (a copy task).
It says how much of a passage's wording the soft tokens carry, independently of any question.

``python -m projector.answer_nll RUN_DIR [--projector DIR ...]`` evaluates on RUN_DIR's validation split.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from projector.data import Example, PassageTable, paraphrase_examples
from projector.losses import target_logits, target_mask_and_ids
from projector.model import Projector
from projector.views import closed_book_prompts, soft_tokens, student_prompts, teacher_prompts
from rag import prompt as P
from rag.llm import LLM

logger = logging.getLogger(__name__)
VIEWS = ("closed_book", "full_text", "compressed")


@torch.no_grad()
def answer_nll(llm: LLM, table: PassageTable, examples: list[Example], view: str,
               projector: Projector | None = None, batch_size: int = 8, progress: bool = True) -> float:
    """Mean NLL per target token (answer or passage, + end-of-turn) of ``examples`` under ``view``."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {VIEWS}")
    if view == "compressed" and projector is None:
        raise ValueError("the compressed view needs a projector")
    if projector is not None:
        projector.eval()
    total, count = 0.0, 0
    for s in tqdm(range(0, len(examples), batch_size), desc=f"answer NLL [{view}]", disable=not progress):
        chunk = examples[s:s + batch_size]
        batch = P.assemble(llm, *_prompts(llm, table, chunk, view, projector), with_labels=True)
        n_keep = int((batch.labels != -100).sum(1).max())
        logits = target_logits(llm, batch, n_keep)
        mask, ids = target_mask_and_ids(batch, n_keep)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        total += float(-(logp * mask).sum())
        count += int(mask.sum())
    return total / max(count, 1)


def _prompts(llm: LLM, table: PassageTable, examples: list[Example], view: str, projector: Projector | None):
    if view == "closed_book":
        return closed_book_prompts(llm, examples), None
    if view == "full_text":
        return teacher_prompts(llm, table, examples), None
    n_soft = projector.config.soft_tokens_per_passage(table.memory.shape[1])
    return student_prompts(llm, examples, n_soft), soft_tokens(projector, table, examples, llm.device)


def nll_recovery(closed: float, compressed: float, full: float) -> float:
    """Share of the closed-book -> full-text NLL drop that the compressed view achieves."""
    gap = closed - full
    return (closed - compressed) / gap if gap > 0 else float("nan")


def emit_json(result: dict, out: str | None) -> None:
    """Command-line output of the evaluation tools: the result as JSON on stdout, and in ``out`` if given."""
    text = json.dumps(result, indent=1)
    if out:
        Path(out).write_text(text)
    sys.stdout.write(text + "\n")  # the tools' result, not a log line: stdout stays parseable JSON


def main(argv: list[str] | None = None) -> int:
    from indexer import load_embedder
    from projector.recipe import RecipeConfig, prepare_data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a `squeezerag train` run directory (its recipe.json and data/ cache are reused)")
    ap.add_argument("--projector", nargs="+", default=None, help="projector folders (default: RUN/final)")
    ap.add_argument("--limit", type=int, default=None, help="a seeded sample of N validation examples (default: all)")
    ap.add_argument("--task", choices=("qa", "reconstruction"), default="qa",
                    help="score gold answers (qa) or the validation paragraphs themselves (reconstruction)")
    ap.add_argument("--target-tokens", type=int, default=128, help="reconstruction: passage tokens scored")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run = Path(args.run)
    cfg = RecipeConfig.from_json(run / "recipe.json")
    llm = LLM.load(cfg.llm)  # fp32: evaluation matches inference, not the bf16 training forward
    data = prepare_data(cfg, llm, load_embedder(cfg.embedder), run / "data", progress=False)
    val = data.val
    if args.task == "reconstruction":
        rows = list(dict.fromkeys(ex.passages[0] for ex in data.val))
        val = paraphrase_examples(data.table, rows, llm.tokenizer, args.target_tokens, seed=cfg.seed)
    val = random.Random(cfg.seed).sample(val, min(args.limit, len(val))) if args.limit else val
    show = not args.quiet
    result = {"task": args.task, "examples": len(val),
              "closed_book": answer_nll(llm, data.table, val, "closed_book", progress=show),
              "full_text": answer_nll(llm, data.table, val, "full_text", progress=show), "projectors": {}}
    for path in args.projector or [str(run / "final")]:
        nll = answer_nll(llm, data.table, val, "compressed", Projector.from_pretrained(path), progress=show)
        result["projectors"][path] = {"nll": nll, "recovery": nll_recovery(result["closed_book"], nll,
                                                                           result["full_text"])}
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
