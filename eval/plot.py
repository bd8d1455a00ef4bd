"""``report.png``: accuracy against context size (left) and latency (right), one entry per mode.

Left: accuracy (with its 95% CI) against context tokens per question, log x, one point per mode, labelled in
the legend with its accuracy and token count (labels next to the points collide when modes sit close);
closed book (no context tokens, so no place on a log axis) is a dashed horizontal line. Right: TTFT and
end-to-end latency p50 bars per mode, whiskers up to p95.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_COLORS = {"closed_book": "#7f7f7f", "full_text": "#1f77b4", "compressed": "#d62728", "oracle": "#2ca02c",
           "oracle_compressed": "#ff7f0e"}


_EXTRA = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")


def _color(name: str, modes: dict[str, Any]) -> str:
    """The mode's own colour; other labels (merged runs) get distinct extra colours in order."""
    if name in _COLORS:
        return _COLORS[name]
    others = [n for n in modes if n not in _COLORS]
    return _EXTRA[others.index(name) % len(_EXTRA)]


def _accuracy_panel(ax: Any, modes: dict[str, dict[str, Any]]) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    xs = []
    for mode, m in modes.items():
        acc = m["accuracy"]
        color = _color(mode, modes)
        if m["context_tokens_mean"] <= 0:
            ax.axhline(acc["mean"], color=color, linestyle="--", linewidth=1.2, label=f"{mode}: {acc['mean']:.2f}")
            continue
        x = m["context_tokens_mean"]
        xs.append(x)
        low, high = acc["ci95"]
        ax.errorbar([x], [acc["mean"]], yerr=[[acc["mean"] - low], [high - acc["mean"]]], fmt="o", color=color,
                    capsize=4, markersize=8, label=f"{mode}: {acc['mean']:.2f} @ {x:.3g} tokens")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim((min(xs) / 3, max(xs) * 3) if xs else (1, 1000))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("context tokens per question (log scale)")
    ax.set_ylabel("accuracy (gold answer in output)")
    ax.set_title("Accuracy vs context size (bars: 95% CI)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    ax.grid(True, which="both", alpha=0.3)


def _latency_panel(ax: Any, modes: dict[str, dict[str, Any]]) -> None:
    import numpy as np
    from matplotlib.patches import Patch

    names = list(modes)
    x = np.arange(len(names))
    width = 0.38
    colors = [_color(n, modes) for n in names]
    top = 0.0
    for offset, key, hatch, alpha in ((-width / 2, "ttft_s", "//", 0.45), (width / 2, "latency_s", "", 0.95)):
        p50 = [modes[n][key]["p50"] or 0.0 for n in names]
        p95 = [modes[n][key]["p95"] or 0.0 for n in names]
        bars = ax.bar(x + offset, p50, width, alpha=alpha, color=colors, hatch=hatch, edgecolor="white")
        upper = [max(h - m, 0) for m, h in zip(p50, p95, strict=True)]
        ax.errorbar(x + offset, p50, yerr=[[0] * len(names), upper], fmt="none", ecolor="black", capsize=3,
                    linewidth=1)
        ax.bar_label(bars, labels=[f"{v:.3g}" for v in p50], fontsize=8, padding=2)
        top = max([top, *p95, *p50])
    ax.set_ylim(0, top * 1.3 if top > 0 else 1)
    ax.set_xticks(x, names, rotation=15)
    ax.set_ylabel("seconds per question")
    ax.set_title("Latency p50 (whiskers: p95)")
    ax.legend(handles=[Patch(facecolor="grey", alpha=0.45, hatch="//", label="time to first token"),
                       Patch(facecolor="grey", alpha=0.95, label="end-to-end")], fontsize=8, loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)


def plot_report(metrics: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Draw the two-panel figure into ``path`` (PNG). Uses a bare ``Figure`` (Agg canvas), not pyplot, so
    it never changes the caller's matplotlib backend (notebooks keep theirs)."""
    from matplotlib.figure import Figure

    modes = metrics["modes"]
    fig = Figure(figsize=(12, 5.6))
    left, right = fig.subplots(1, 2)
    _accuracy_panel(left, modes)
    _latency_panel(right, modes)
    fig.suptitle(f"{title}: {metrics['n_questions']} questions".strip(": "), fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)
