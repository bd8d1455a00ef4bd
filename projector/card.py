"""Model card for a trained projector: what it was trained on, how long, and how it did.

``python -m projector.card RUN_DIR OUT_DIR [--command "..."] [--bench RUN]`` copies ``RUN_DIR/final`` to
``OUT_DIR`` and writes ``README.md`` and ``loss.png`` beside the weights. A run started ``--init-from`` another
run's weights is reported together with its ancestors (steps, losses and validations of every part).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

STAGES = ("stage1", "stage2")
# Written beside shipped weights: the run they came from, so a later `--init-from` of the shipped folder
# still finds its ancestors (only where that run directory exists, i.e. on the machine that trained it).
SOURCE_RUN_FILE = "source_run.json"
_STAGE_NAMES = {"stage1": "paraphrase", "stage2": "QA + KL"}


def _history(run_dir: Path, stage: str) -> list[dict]:
    path = run_dir / stage / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def lineage(run_dir: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """``(run, stages it contributed)``, oldest first, following each run's ``init_from`` back to its start."""
    chain: list[tuple[Path, tuple[str, ...]]] = []
    run, stages = run_dir, STAGES
    while run is not None and (run / "recipe.json").exists() and run not in [r for r, _ in chain]:
        chain.append((run, tuple(s for s in stages if _history(run, s))))
        init = json.loads((run / "recipe.json").read_text()).get("init_from")
        run, stages = _run_of(Path(init)) if init else (None, ())
    return chain[::-1]


def _run_of(weights: Path) -> tuple[Path | None, tuple[str, ...]]:
    """The run that wrote ``weights`` (its ``final/`` or a ``stageN/checkpoint``) and the stages behind them."""
    if weights.name == "final":
        return weights.parent, STAGES
    if (weights / SOURCE_RUN_FILE).exists():
        run = Path(json.loads((weights / SOURCE_RUN_FILE).read_text())["run_dir"])
        return (run, STAGES) if run.exists() else (None, ())
    if weights.name == "checkpoint" and weights.parent.name in STAGES:
        return weights.parent.parent, STAGES[:STAGES.index(weights.parent.name) + 1]
    return None, ()


def _logged(chain, key: str):
    """``(global_step, run, stage, row)`` for history rows holding ``key``, steps counted across the chain."""
    offset = 0
    for run, stages in chain:
        for stage in stages:
            rows = _history(run, stage)
            yield from ((offset + r["step"], run, stage, r) for r in rows if key in r)
            offset += _last_step(run, stage)


def _last_step(run: Path, stage: str) -> int:
    return max((r["step"] for r in _history(run, stage)), default=0)


def plot_losses(run_dir: Path, out_png: Path) -> None:
    """Training loss (per logged window) of every stage of the run and its ancestors, on one step axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    points = list(_logged(lineage(run_dir), "loss_avg"))
    for stage, colour in zip(STAGES, ("tab:blue", "tab:orange")):
        if any(s == stage for _, _, s, _ in points):
            # One line per stage; NaN breaks it where the other stage's steps sit.
            ys = [r["loss_avg"] if s == stage else float("nan") for _, _, s, r in points]
            ax.plot([x for x, *_ in points], ys, color=colour, label=f"{stage} train loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (stage 2: NLL + KL weight x KL)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def _validation_rows(chain) -> list[str]:
    return [f"| {run.name} | {stage} | {x} | {r['val_nll']:.3f} | {r.get('val_em', 0):.3f} | "
            f"{r.get('val_f1', 0):.3f} | {r.get('val_acc', 0):.3f} |" for x, run, stage, r in _logged(chain, "val_nll")]


def _run_lines(chain) -> list[str]:
    lines = []
    for run, stages in chain:
        recipe = json.loads((run / "recipe.json").read_text())
        parts = [f"{stage} ({_STAGE_NAMES[stage]}, lr {recipe[stage]['lr']}, batch {recipe[stage]['batch_size']}): "
                 f"{_last_step(run, stage)} steps" for stage in stages]
        lines.append(f"- `{run.name}` ({', '.join(recipe['sources'])}; LLM in {recipe['llm_dtype'] or 'float32'}, "
                     f"seed {recipe['seed']}): " + "; ".join(parts))
    return lines


def render_card(run_dir: Path, command: str, bench_table: str = "") -> str:
    config = json.loads((run_dir / "final" / "config.json").read_text())
    chain = lineage(run_dir)
    steps = {stage: sum(_last_step(run, stage) for run, stages in chain if stage in stages) for stage in STAGES}
    batch = {stage: config["training"]["recipe"][stage]["batch_size"] for stage in STAGES}
    speed = [r["s_per_step"] for _, _, _, r in _logged(chain, "s_per_step")]
    lines = [
        f"# squeezerag projector: {config['embedder_id']} -> {config['llm_id']}",
        "",
        f"Maps `{config['memory_encoding']}` memory vectors ({config['d_embed']}-d) to "
        f"{config['tokens_per_vector']} soft token(s) each ({config['d_model']}-d): LayerNorm -> Linear("
        f"{config['d_embed']}, {config['hidden']}) -> GELU -> Linear -> L2-normalise x LLM embedding norm "
        f"({config['target_norm']:.3f}). Prompt version `{config['prompt_version']}`. Weights fp16.",
        "",
        "## Training data",
        "",
        "| source | examples |", "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in config["training"]["data_counts"].items()],
        "",
        f"Validation articles (held out, SQuAD v1.1 dev pool): {', '.join(config['training']['val_articles'])}.",
        "",
        "## Training run",
        "",
        "Trained in parts, each starting from the previous part's weights (`--init-from`):",
        "",
        *_run_lines(chain),
        "",
        f"In all: {steps['stage1']} stage-1 steps and {steps['stage2']} stage-2 steps (about "
        f"{steps['stage1'] * batch['stage1']} and {steps['stage2'] * batch['stage2']} examples). Stage 2 loss is "
        "NLL + KL weight x KL(teacher || student). "
        + (f"Mean {sum(speed) / len(speed):.1f} s per step on the training machine (2 shared CPU cores)."
           if speed else ""),
        "",
        "![loss](loss.png)",
        "",
        "Validation logged during training (first 160 validation questions for NLL, 64 for EM/F1/accuracy,",
        "gold paragraph compressed, greedy, 16 new tokens); step counts run across the parts:",
        "",
        "| part | stage | step | val NLL | EM | F1 | accuracy |", "| --- | --- | --- | --- | --- | --- | --- |",
        *_validation_rows(chain),
        "",
    ]
    if bench_table:
        lines += ["## Benchmark (validation articles, retrieval over their paragraphs)", "", bench_table, ""]
    lines += ["## Reproduce", "", "```bash", command, "```", ""]
    return "\n".join(lines)


def write_card(run_dir: str | Path, out_dir: str | Path, command: str, bench_table: str = "") -> Path:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Card and plot first: the run may descend from the very folder being replaced (its source_run.json).
    card = render_card(run_dir, command, bench_table)
    plot_losses(run_dir, out_dir / "loss.png")
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(run_dir / "final" / name, out_dir / name)
    (out_dir / SOURCE_RUN_FILE).write_text(json.dumps({"run_dir": str(run_dir)}) + "\n")
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir"), p.add_argument("out_dir")
    p.add_argument("--command", required=True, help="the command that reproduces the run")
    p.add_argument("--bench-table", default="", help="a markdown table file to include")
    args = p.parse_args(argv)
    table = Path(args.bench_table).read_text() if args.bench_table else ""
    write_card(args.run_dir, args.out_dir, args.command, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
