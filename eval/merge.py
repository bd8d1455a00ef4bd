"""One table from several benchmark runs over the same questions (e.g. one run per projector).

``python -m eval.merge --closed closed_book@runs/k1 --full full_text@runs/k1 seg8=compressed@runs/k1 \
pooled=compressed@runs/k1-pooled``

Each arm is ``[LABEL=]MODE@RUN_DIR``. Rows are joined on question id; boost recovery of every arm is
computed on the questions all arms answered, against the ``--closed`` and ``--full`` arms.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eval.metrics import boost_recovery, paired_bootstrap_ci

SCORES = ("em", "f1", "accuracy")


def load_arm(spec: str) -> tuple[str, dict[str, dict]]:
    """``[LABEL=]MODE@RUN[+RUN...]`` -> (label, {question id: prediction row}); several runs (over different
    question sets, e.g. a validation and a second set) are pooled into one arm."""
    label, _, rest = spec.rpartition("=")
    mode, _, runs = rest.partition("@")
    if not runs:
        raise ValueError(f"arm {spec!r} is not [LABEL=]MODE@RUN_DIR. Fix: e.g. compressed@runs/bench-k3")
    by_id: dict[str, dict] = {}
    for run in runs.split("+"):
        path = Path(run) / "predictions.jsonl"
        if not path.is_file():  # e.g. a run still going: the bench writes it when every question is answered
            raise ValueError(f"{path} does not exist: RUN is a finished `squeezerag bench --out` folder (a run "
                             "still in progress holds only partial/)")
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        found = {r["id"]: r for r in rows if r["mode"] == mode}
        if not found:
            raise ValueError(f"run {run} has no rows for mode {mode!r}")
        if clash := found.keys() & by_id.keys():
            raise ValueError(f"arm {spec!r} pools runs that share question ids (e.g. {min(clash)!r}), which would "
                             "count them twice. Fix: pool only runs over different question sets")
        by_id.update(found)
    return label or f"{mode}@{'+'.join(Path(run).name for run in runs.split('+'))}", by_id


def merge_table(arms: list[str], closed: str, full: str, n_boot: int = 1000) -> str:
    """Markdown table: scores, recovery (with a paired-bootstrap 95% interval over questions for accuracy),
    context tokens and TTFT per arm, on the shared questions."""
    loaded = [load_arm(a) for a in [closed, full, *arms]]
    shared = sorted(set.intersection(*(set(rows) for _, rows in loaded)))
    column = {label: {s: [float(rows[i][s]) for i in shared] for s in SCORES} for label, rows in loaded}
    means = {label: {s: float(np.mean(v)) for s, v in scores.items()} for label, scores in column.items()}
    closed_label, full_label = loaded[0][0], loaded[1][0]
    lines = [f"{len(shared)} questions answered by every arm.", "",
             "| arm | EM | F1 | accuracy | recovery (acc) | 95% interval | recovery (F1) | context tokens | "
             "TTFT p50 ms |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, rows in loaded:
        m = means[label]
        rec = {s: boost_recovery(m[s], means[closed_label][s], means[full_label][s]) for s in ("accuracy", "f1")}
        ci = None
        if rec["accuracy"] is not None and label not in (closed_label, full_label):
            columns = [column[x]["accuracy"] for x in (label, closed_label, full_label)]
            ci = paired_bootstrap_ci(boost_recovery, columns, n=n_boot)
        ctx = np.mean([rows[i]["context_tokens"] for i in shared])
        ttft = np.median([rows[i]["timings"]["ttft_s"] for i in shared]) * 1000
        lines.append(f"| {label} | {m['em']:.3f} | {m['f1']:.3f} | {m['accuracy']:.3f} | {_fmt(rec['accuracy'])} | "
                     f"{'' if ci is None else f'{ci[0]:.2f}–{ci[1]:.2f}'} | {_fmt(rec['f1'])} | {ctx:.1f} | "
                     f"{ttft:.0f} |")
    return "\n".join(lines)


def merged_plot(arms: list[str], path: str | Path, title: str = "") -> Path:
    """The benchmark figure (accuracy vs context tokens, latency) with one point per arm."""
    from eval.plot import plot_report

    modes, n = {}, set()
    for spec in arms:
        label, _, rest = spec.rpartition("=")
        mode, _, run = rest.partition("@")
        metrics = json.loads((Path(run) / "metrics.json").read_text())
        modes[label or mode] = metrics["modes"][mode]
        n.add(metrics["n_questions"])
    if len(n) != 1:
        raise ValueError(f"arms answered different numbers of questions {sorted(n)}: rerun with one --limit/--seed")
    return plot_report({"modes": modes, "n_questions": n.pop()}, path, title)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("arms", nargs="+", help="[LABEL=]MODE@RUN_DIR")
    p.add_argument("--closed", required=True, help="closed-book arm, e.g. closed_book@runs/k1")
    p.add_argument("--full", required=True, help="full-text arm, e.g. full_text@runs/k1")
    p.add_argument("--plot", default=None, help="also draw every arm into this PNG")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    try:
        print(merge_table(args.arms, args.closed, args.full))
    except ValueError as e:  # a bad arm: the message names it and the fix, no traceback
        p.error(str(e))
    if args.plot:
        merged_plot([args.closed, args.full, *args.arms], args.plot, args.title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
