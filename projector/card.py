"""Model card for a trained projector: what it was trained on, how long, and how it did.

``python -m projector.card RUN_DIR OUT_DIR [--command "..."] [--bench RUN]`` copies ``RUN_DIR/final`` to
``OUT_DIR`` and writes ``README.md`` and ``loss.png`` beside the weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def _history(run_dir: Path, stage: str) -> list[dict]:
    path = run_dir / stage / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def plot_losses(run_dir: Path, out_png: Path) -> None:
    """Training loss (per logged window) of both stages, on one step axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    offset = 0
    for stage, colour in (("stage1", "tab:blue"), ("stage2", "tab:orange")):
        rows = [r for r in _history(run_dir, stage) if "loss_avg" in r]
        if rows:
            ax.plot([offset + r["step"] for r in rows], [r["loss_avg"] for r in rows], color=colour,
                    label=f"{stage} train loss")
            offset += rows[-1]["step"]
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (stage 2: NLL + KL weight x KL)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def _validation_rows(run_dir: Path) -> list[str]:
    rows = []
    for stage in ("stage1", "stage2"):
        for r in _history(run_dir, stage):
            if "val_nll" in r:
                rows.append(f"| {stage} | {r['step']} | {r['val_nll']:.3f} | {r.get('val_em', 0):.3f} | "
                            f"{r.get('val_f1', 0):.3f} | {r.get('val_acc', 0):.3f} |")
    return rows


def render_card(run_dir: Path, command: str, bench_table: str = "") -> str:
    config = json.loads((run_dir / "final" / "config.json").read_text())
    recipe = config["training"]["recipe"]
    steps = {s: (_history(run_dir, s) or [{"step": 0}])[-1]["step"] for s in ("stage1", "stage2")}
    speed = [r["s_per_step"] for s in ("stage1", "stage2") for r in _history(run_dir, s) if "s_per_step" in r]
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
        f"Stage 1 (paraphrase, lr {recipe['stage1']['lr']}): {steps['stage1']} steps of batch "
        f"{recipe['stage1']['batch_size']}; stage 2 (QA + {recipe['stage2']['kl_weight']}·KL, lr "
        f"{recipe['stage2']['lr']}): {steps['stage2']} steps of batch {recipe['stage2']['batch_size']}. "
        f"Examples seen: {steps['stage1'] * recipe['stage1']['batch_size']} (stage 1) and "
        f"{steps['stage2'] * recipe['stage2']['batch_size']} (stage 2). "
        f"LLM in {recipe['llm_dtype'] or 'float32'} during training; seed {recipe['seed']}. "
        + (f"Mean {sum(speed) / len(speed):.1f} s per step on the training machine (2 shared CPU cores)."
           if speed else ""),
        "",
        "![loss](loss.png)",
        "",
        "Validation at the end of each stage (first 160 validation questions for NLL, 64 for EM/F1/accuracy,",
        "gold paragraph compressed, greedy, 16 new tokens):",
        "",
        "| stage | step | val NLL | EM | F1 | accuracy |", "| --- | --- | --- | --- | --- | --- |",
        *_validation_rows(run_dir),
        "",
    ]
    if bench_table:
        lines += ["## Benchmark (validation articles, retrieval over their paragraphs)", "", bench_table, ""]
    lines += ["## Reproduce", "", "```bash", command, "```", ""]
    return "\n".join(lines)


def write_card(run_dir: str | Path, out_dir: str | Path, command: str, bench_table: str = "") -> Path:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(run_dir / "final" / name, out_dir / name)
    plot_losses(run_dir, out_dir / "loss.png")
    (out_dir / "README.md").write_text(render_card(run_dir, command, bench_table), encoding="utf-8")
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
