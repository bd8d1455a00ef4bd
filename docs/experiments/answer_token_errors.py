"""Which soft tokens decide a question: the projector's errors on the gold answer's own tokens, question by question.

Perfect reader tokens (``perfect_reader_tokens.py``) answer ~0.9 of what full text answers; the shipped projector
far less, and raising its average token fidelity has not moved accuracy (docs/results.md, "Telling the projector the
case"). This splits the questions that perfect tokens get right and the projector does not by what the projector
did to the gold answer inside the windows: whether the answer was in the windows at all, whether every one of its
reader tokens came through (nearest vocabulary token of the soft token = the token), and if not, what the first
wrong token was (the span's first token or a later one; case only, a missing leading space only, a digit, a
capitalised word, other).

``record``: run ``squeezerag bench --modes compressed`` with perfect reader tokens (as
``perfect_reader_tokens.py``) while writing, per question, its windows' reader token ids and the projector's
nearest token for each, to ``RECORD`` (JSON lines)::

    python docs/experiments/answer_token_errors.py record runs/rec-VAL.jsonl bench --dataset $DS --articles $VAL \
        --corpus-from-dataset --limit 5000 --modes compressed --k 3 --out runs/full-VAL-perfect

``analyse``: join the record with the projector's and perfect tokens' predictions (same questions and windows)::

    python docs/experiments/answer_token_errors.py analyse runs/rec-VAL.jsonl runs/full-VAL-compressed \
        runs/full-VAL-perfect
"""

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import projector.model as projector_model
import rag.pipeline as pipeline
from projector.reader_tokens import reader_token_inputs, shared_characters
from rag.window_training import answer_char_spans

projected_windows = projector_model.window_soft_tokens
prompts_of = pipeline.RAG._wordpiece_prompts
state: dict = {"questions": [], "calls": 0}


def recording_perfect_tokens(projector, windows, tokenizer=None):
    """Perfect reader tokens for the LLM; the projector's nearest tokens written to the record."""
    soft, sizes = projected_windows(projector, windows, tokenizer)
    ids = [reader_token_inputs(tokenizer, w.text, w.states, w.offsets, projector.config.max_pieces,
                               projector.config.read_case, projector.config.split_at_wordpieces).token_ids
           for w in windows]
    table = state["vocabulary"]
    nearest = (F.normalize(soft.float().cpu(), dim=-1) @ F.normalize(table, dim=-1).T).argmax(-1)
    record, at = [], 0
    for w, i in zip(windows, ids):
        record.append({"text": w.text, "ids": i.tolist(), "nearest": nearest[at:at + len(i)].tolist()})
        at += len(i)
    question = state["questions"][state["calls"]]
    state["calls"] += 1
    with open(state["path"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"question": question, "windows": record}) + "\n")
    return table[torch.cat(ids)].to(device=soft.device, dtype=soft.dtype), sizes


def stash_questions(self, questions, hits):
    state["questions"], state["calls"] = list(questions), 0
    state["vocabulary"] = self.llm.input_embeddings.weight.detach().float().cpu()
    return prompts_of(self, questions, hits)


def first_error(window: dict, span: tuple[int, int], tokenizer) -> str | None:
    """None if every reader token of the answer occurrence ``span`` is read right, else the first wrong one's kind."""
    offsets = np.asarray(tokenizer(window["text"], add_special_tokens=False, return_offsets_mapping=True)
                         .offset_mapping, dtype=np.int64).reshape(-1, 2)
    rows = np.flatnonzero(shared_characters(offsets, np.asarray([span]))[:, 0] > 0)
    for n, r in enumerate(rows):
        want, got = window["ids"][r], window["nearest"][r]
        if want == got:
            continue
        w, g = tokenizer.convert_ids_to_tokens([want, got])
        where = "first token" if n == 0 else "later token"
        if w.lower() == g.lower():
            return f"{where}: case only"
        if w.lstrip("Ġ") == g.lstrip("Ġ"):
            return f"{where}: leading space only"
        word = w.lstrip("Ġ")
        kind = "digit" if word[:1].isdigit() else "capitalised" if word[:1].isupper() else "other"
        return f"{where}: {kind}"
    return None


def answer_state(windows: list[dict], answers: list[str], tokenizer) -> str:
    """``not in windows``, ``all tokens right`` (some occurrence read whole) or the first error of the best one."""
    errors = []
    for window in windows:
        for span in answer_char_spans(window["text"], answers):
            error = first_error(window, span, tokenizer)
            if error is None:
                return "all tokens right"
            errors.append(error)
    return min(errors, key=lambda e: e.startswith("later")) if errors else "not in windows"


def window_fidelity(windows: list[dict]) -> float:
    """Share of all the question's window tokens whose soft token is nearest its own embedding."""
    pairs = [(a, b) for w in windows for a, b in zip(w["ids"], w["nearest"])]
    return sum(a == b for a, b in pairs) / max(len(pairs), 1)


def analyse(record_path: str, projector_run: str, perfect_run: str) -> None:
    from rag.llm import LLM

    tokenizer = LLM.load().tokenizer
    record = {}
    for line in Path(record_path).read_text().splitlines():
        row = json.loads(line)
        record[row["question"]] = row["windows"]
    runs = [{r["question"]: r for r in map(json.loads, (Path(run) / "predictions.jsonl").read_text().splitlines())}
            for run in (projector_run, perfect_run)]
    table: dict[tuple[str, str], Counter] = {}
    fidelity: dict[tuple[str, str, str], list[float]] = {}
    for question, mine in runs[0].items():
        perfect = runs[1].get(question)
        if perfect is None or question not in record:
            continue
        cell = ("perfect " + ("right" if perfect["accuracy"] else "wrong"),
                "projector " + ("right" if mine["accuracy"] else "wrong"))
        status = answer_state(record[question], mine["answers"], tokenizer)
        table.setdefault(cell, Counter())[status] += 1
        fidelity.setdefault((*cell, status), []).append(window_fidelity(record[question]))
    for cell, counts in sorted(table.items()):
        total = sum(counts.values())
        print(f"\n{cell[0]}, {cell[1]}: {total} questions (share, mean window-token fidelity)")
        for name, n in counts.most_common():
            print(f"  {name:40s} {n:5d}  {n / total:.3f}  {np.mean(fidelity[(*cell, name)]):.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "analyse":
        analyse(*sys.argv[2:5])
    else:
        from rag.cli import main

        state["path"] = sys.argv[2]
        Path(state["path"]).unlink(missing_ok=True)
        projector_model.window_soft_tokens = recording_perfect_tokens
        pipeline.RAG._wordpiece_prompts = stash_questions
        sys.exit(main(sys.argv[3:]))
