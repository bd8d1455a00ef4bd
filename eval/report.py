"""``report.md``: the benchmark's metrics as two Markdown tables (quality, cost) plus definitions."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_DEFINITIONS = """\
## Definitions

- **EM / F1**: SQuAD exact match and token F1 after SQuAD normalisation (lowercase, no punctuation, no
  a/an/the, collapsed whitespace), best over the gold aliases.
- **Accuracy**: a gold alias appears as a contiguous token sequence in the normalised output (xRAG/DPR
  `has_answer`). Verbose outputs inflate it; EM punishes them.
- **[a, b]**: 95% percentile-bootstrap confidence interval over questions ({resamples} resamples).
- **Boost recovery** = (mode − closed book) / (text mode − closed book) on the same questions and passages
  (`compressed` vs `full_text`, `oracle_compressed` vs `oracle`), on accuracy; 1 = all of the full-text
  gain kept, 0 = none; n/a when the text mode gains nothing over closed book.
- **Resilience** (xRAG): of the questions closed book answers right, the fraction this mode still answers
  right. **Boost rate**: of those closed book gets wrong, the fraction this mode gets right (accuracy).
- **Answer R@k**: a gold alias occurs in one of the passages the mode saw; **gold R@k**: the gold context is
  one of them.
- **Context tokens**: tokens the context takes in the prompt (text tokens, or soft tokens for compressed
  modes); **prompt tokens**: the whole prompt.
- **GFLOPs/q**: estimated forward FLOPs per question: the LLM's, 2·N·T + L·d·T·(T+1) with T = prompt + new − 1
  tokens, N parameters, L layers, width d, plus what runs at answer time: in every mode that retrieves, the
  embedder over the question; in the window modes, the embedder pass over the question and passages and the
  window scorer that find the windows; in compressed, the projector and a reader adapter;
  `metrics.json` has them by part (`gflops_by_part`; see `eval/flops.py`).
- **TTFT / latency**: time to first token / to the full answer, from retrieval to end; in a batch these are the
  batch's. **q/s**: questions per second of wall time (retrieval included for retrieval modes).
- **Peak RSS** is the process high-water mark so far (it never decreases across modes); **peak CUDA** is per mode.
"""


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell; ``n/a`` for None."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fmt_sig(value: float | None, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (for quantities spanning many magnitudes)."""
    return "n/a" if value is None else f"{value:.{digits}g}"


def fmt_ci(block: dict[str, Any] | None, key: str = "mean", digits: int = 3) -> str:
    """``0.412 [0.380, 0.440]`` from ``{"mean"/"value": ..., "ci95": [lo, hi]}``."""
    if not block or block.get(key) is None:
        return "n/a"
    ci = block.get("ci95")
    tail = f" [{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]" if ci else ""
    return f"{fmt(block[key], digits)}{tail}"


def fmt_pair(block: dict[str, Any] | None, digits: int = 3) -> str:
    """``p50 / p95`` of a percentile block."""
    if not block:
        return "n/a"
    return f"{fmt(block.get('p50'), digits)} / {fmt(block.get('p95'), digits)}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def quality_table(modes: dict[str, dict[str, Any]]) -> str:
    """Per mode: EM, F1, accuracy (with CIs), boost recovery, resilience, boost rate, recall@k."""
    header = ["mode", "n", "EM", "F1", "accuracy", "boost recovery", "resilience", "boost rate",
              "answer R@k", "gold R@k"]
    rows = []
    for mode, m in modes.items():
        recovery = (m.get("boost_recovery") or {}).get("accuracy")
        rows.append([f"`{mode}`", str(m["n"]), fmt_ci(m["em"]), fmt_ci(m["f1"]), fmt_ci(m["accuracy"]),
                     fmt_ci(recovery, key="value"), fmt(m.get("resilience_rate")), fmt(m.get("boost_rate")),
                     fmt(m.get("answer_recall_at_k")), fmt(m.get("gold_recall_at_k"))])
    return table(header, rows)


def cost_table(modes: dict[str, dict[str, Any]]) -> str:
    """Per mode: tokens, GFLOPs, TTFT and latency percentiles, throughput, peak memory."""
    header = ["mode", "context tokens", "prompt tokens", "new tokens", "GFLOPs/q", "TTFT p50 / p95 (s)",
              "latency p50 / p95 (s)", "q/s", "peak RSS (MB)", "peak CUDA (MB)"]
    rows = [[f"`{mode}`", fmt(m["context_tokens_mean"], 1), fmt(m["prompt_tokens_mean"], 1),
             fmt(m["new_tokens_mean"], 1), fmt_sig(m.get("gflops_per_question")), fmt_pair(m["ttft_s"]),
             fmt_pair(m["latency_s"]), fmt(m.get("throughput_qps"), 2), fmt(m.get("rss_peak_mb"), 0),
             fmt(m.get("cuda_peak_mb"), 0)] for mode, m in modes.items()]
    return table(header, rows)


def _retrieval_section(retrieval: dict[str, Any] | None) -> str:
    if not retrieval:
        return "## Retrieval\n\nNo retrieval mode ran.\n"
    cutoffs = list(retrieval["answer_recall_at"])
    rows = [["answer in passage"] + [fmt(retrieval["answer_recall_at"][c]) for c in cutoffs]]
    if retrieval.get("gold_recall_at"):
        rows.append(["gold passage"] + [fmt(retrieval["gold_recall_at"][c]) for c in cutoffs])
    return (f"## Retrieval (once, shared by every retrieval mode; {fmt(retrieval['seconds'], 2)} s, "
            f"hits fingerprint `{retrieval['fingerprint']}`)\n\n"
            + table(["recall@"] + cutoffs, rows) + "\n")


def _setup_lines(config: dict[str, Any]) -> list[str]:
    rag = config.get("rag", {})
    dataset = config.get("dataset", {})
    projector = rag.get("projector") or {}
    machine = config.get("machine", {})
    lines = [f"- LLM: `{rag.get('llm', 'n/a')}` ({rag.get('llm_dtype', '?')} on {rag.get('device', '?')}); "
             f"embedder: `{rag.get('embedder', 'n/a')}`; projector: `{projector.get('fingerprint', 'none')}`",
             f"- Index: `{(rag.get('index') or {}).get('dir', 'n/a')}` (manifest "
             f"`{(rag.get('index') or {}).get('manifest_sha256', 'n/a')}`)",
             f"- Dataset: `{dataset.get('path') or dataset.get('type', 'n/a')}` ({dataset.get('n_records')} "
             f"records, fingerprint `{dataset.get('records_fingerprint')}`)",
             f"- k={config.get('k')}, limit={config.get('limit')}, seed={config.get('seed')}, "
             f"batch size={config.get('batch_size')}, max new tokens={config.get('max_new_tokens') or 'default'}",
             f"- Machine: {machine.get('platform', '?')}, {machine.get('cpu_count', '?')} CPUs, "
             f"device {machine.get('torch_device')}"]
    lines += [f"- Skipped `{mode}`: {reason}" for mode, reason in (config.get("skipped_modes") or {}).items()]
    return lines


def render_report(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The whole ``report.md``."""
    modes = metrics["modes"]
    parts = [f"# Benchmark: {metrics['n_questions']} questions, k={config.get('k')}", "",
             *_setup_lines(config), "", "![accuracy vs context tokens; latency](report.png)", "",
             "## Quality", "", quality_table(modes), "", "## Cost", "", cost_table(modes), "",
             _retrieval_section(metrics.get("retrieval")),
             _DEFINITIONS.format(resamples=metrics.get("bootstrap", {}).get("resamples", "?"))]
    return "\n".join(parts)
