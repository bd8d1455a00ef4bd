"""Timing-only benchmark: how much faster is a compressed prompt, for a real architecture, at several k?

No trained weights are needed: a randomly initialised LLM of the chosen shape (:mod:`eval.archs`) times like
the real one. For each k it times, through the same ``rag.LLM.generate_from_embeds`` path the pipeline uses:

- ``full_text``: ``k · doc_tokens`` random token ids (180, xRAG's document cut) + ``question_tokens`` (~40,
  question and template);
- ``compressed``: ``k · soft_tokens_per_doc`` positions + the same ``question_tokens``.

Exactly ``new_tokens`` tokens are generated (EOS ignored), after ``warmup`` untimed runs, ``repeats`` times;
medians are reported with the ratios full / compressed. TTFT is the LLM's first-token time (the streamer sees
the first token after a host copy, which synchronises); end-to-end time is measured around the call with
CUDA events (after ``torch.cuda.synchronize``) on a GPU, ``perf_counter`` on CPU. The projector's own cost (a
small MLP on k vectors) is not included, nor is it in the FLOPs, which are the LLM's alone
(:func:`eval.flops.llm_flops`): stored memory needs no embedder pass at answer time. bf16 on CUDA, fp32 on CPU unless ``dtype`` says otherwise.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from eval.archs import ARCHS, build_random_llm
from eval.environment import library_versions, machine_info
from eval.errors import TimingError
from eval.flops import llm_flops, model_shape
from eval.report import table

logger = logging.getLogger(__name__)


@dataclass
class TimingConfig:
    """What to time. ``ks``: numbers of passages; ``batch_size``: questions answered together."""

    arch: str = "smollm2-135m"
    ks: tuple[int, ...] = (1, 5, 10)
    doc_tokens: int = 180
    question_tokens: int = 40
    soft_tokens_per_doc: int = 1
    new_tokens: int = 16
    repeats: int = 5
    warmup: int = 1
    batch_size: int = 1
    device: str | None = None
    dtype: str | None = None
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`TimingError` on an impossible setting."""
        if self.arch not in ARCHS:
            raise TimingError(f"Unknown architecture {self.arch!r}. Fix: choose one of {sorted(ARCHS)}.")
        numbers = {"ks": min(self.ks, default=0), "doc_tokens": self.doc_tokens, "new_tokens": self.new_tokens,
                   "repeats": self.repeats, "batch_size": self.batch_size,
                   "soft_tokens_per_doc": self.soft_tokens_per_doc, "question_tokens": self.question_tokens}
        bad = {name: value for name, value in numbers.items() if value < 1}
        if bad or self.warmup < 0:
            raise TimingError(f"Timing settings must be >= 1 (warmup >= 0); got {bad or {'warmup': self.warmup}}. "
                              "Fix: pass positive values.")


@dataclass
class TimingPoint:
    """Medians (and raw samples) for one (mode, k)."""

    mode: str
    k: int
    prompt_tokens: int
    new_tokens: int
    ttft_s: float
    total_s: float
    gflops: float | None
    ttft_samples: list[float] = field(default_factory=list)
    total_samples: list[float] = field(default_factory=list)


def prompt_length(config: TimingConfig, mode: str, k: int) -> int:
    """Prompt positions of a mode: context (text tokens or soft tokens) plus question/template tokens."""
    per_doc = config.doc_tokens if mode == "full_text" else config.soft_tokens_per_doc
    return k * per_doc + config.question_tokens


def _timed_generate(llm: Any, embeds: Any, mask: Any, new_tokens: int) -> tuple[float, float, list[int]]:
    """One generation: (ttft_s, end-to-end seconds, new tokens per row)."""
    import torch

    cuda = llm.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(llm.device)
        start_event, end_event = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start_event.record()
    start = time.perf_counter()
    gen = llm.generate_from_embeds(embeds, mask, max_new_tokens=new_tokens, stop_at_newline=False,
                                   ignore_eos=True)
    if cuda:
        end_event.record()
        torch.cuda.synchronize(llm.device)
        total = start_event.elapsed_time(end_event) / 1000.0
    else:
        total = time.perf_counter() - start
    return float(gen.ttft_s), total, list(gen.new_tokens)


def time_point(llm: Any, config: TimingConfig, mode: str, k: int) -> TimingPoint:
    """Warm up, then time ``repeats`` generations of one (mode, k) prompt made of random token ids."""
    import torch

    length = prompt_length(config, mode, k)
    generator = torch.Generator().manual_seed(config.seed + k)
    vocab = llm.input_embeddings.weight.shape[0]
    ids = torch.randint(3, vocab, (config.batch_size, length), generator=generator)
    embeds = llm.embed(ids)
    mask = torch.ones((config.batch_size, length), dtype=torch.long)
    ttfts, totals = [], []
    for i in range(config.warmup + config.repeats):
        ttft, total, produced = _timed_generate(llm, embeds, mask, config.new_tokens)
        if any(n != config.new_tokens for n in produced):
            logger.warning("Generated %s tokens instead of %d; timings are not comparable.", produced,
                           config.new_tokens)
        if i >= config.warmup:
            ttfts.append(ttft)
            totals.append(total)
    shape = model_shape(llm)
    flops = llm_flops(shape, length, config.new_tokens) * config.batch_size if shape else None
    return TimingPoint(mode=mode, k=k, prompt_tokens=length, new_tokens=config.new_tokens,
                       ttft_s=statistics.median(ttfts), total_s=statistics.median(totals),
                       gflops=None if flops is None else flops / 1e9, ttft_samples=ttfts, total_samples=totals)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def ratios(points: list[TimingPoint]) -> list[dict[str, Any]]:
    """Per k: full_text / compressed for TTFT, end-to-end time and GFLOPs."""
    by_key = {(p.mode, p.k): p for p in points}
    out = []
    for k in sorted({p.k for p in points}):
        full, comp = by_key[("full_text", k)], by_key[("compressed", k)]
        out.append({"k": k, "ttft": _ratio(full.ttft_s, comp.ttft_s), "total": _ratio(full.total_s, comp.total_s),
                    "gflops": _ratio(full.gflops, comp.gflops)})
    return out


def run_timing(config: TimingConfig, out_dir: str | Path | None = None, progress: bool = True,
               llm: Any = None) -> dict[str, Any]:
    """Time full_text vs compressed at every k; write ``timing.json`` and ``timing.md`` when ``out_dir``.

    ``llm``: an already-built ``rag.LLM`` to time instead of a random ``config.arch`` model (tests, or a real
    model). Returns the ``timing.json`` document.
    """
    config.validate()
    llm = llm if llm is not None else build_random_llm(config.arch, config.device, config.dtype, config.seed)
    jobs = [(mode, k) for k in config.ks for mode in ("full_text", "compressed")]
    points = [time_point(llm, config, mode, k)
              for mode, k in tqdm(jobs, desc=f"timing {config.arch}", disable=not progress)]
    shape = model_shape(llm)
    result = {"config": asdict(config), "model": {"id": llm.id, "shape": shape.to_dict() if shape else None,
                                                  "device": str(llm.device), "dtype": str(llm.dtype)},
              "points": [asdict(p) for p in points], "ratios": ratios(points),
              "machine": machine_info(str(llm.device)), "versions": library_versions()}
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "timing.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (folder / "timing.md").write_text(render_timing(result), encoding="utf-8")
        logger.info("Wrote timing.json and timing.md to %s", folder)
    return result


def render_timing(result: dict[str, Any]) -> str:
    """A Markdown table: one row per k, full vs compressed medians and their ratios."""
    by_key = {(p["mode"], p["k"]): p for p in result["points"]}
    rows = []
    for r in result["ratios"]:
        full, comp = by_key[("full_text", r["k"])], by_key[("compressed", r["k"])]
        rows.append([str(r["k"]), f"{full['prompt_tokens']} / {comp['prompt_tokens']}",
                     f"{full['ttft_s'] * 1e3:.1f} / {comp['ttft_s'] * 1e3:.1f}", f"{r['ttft']}x",
                     f"{full['total_s'] * 1e3:.1f} / {comp['total_s'] * 1e3:.1f}", f"{r['total']}x",
                     f"{r['gflops']}x" if r["gflops"] else "n/a"])
    cfg, model = result["config"], result["model"]
    head = (f"# Timing: {cfg['arch']} ({model['dtype']} on {model['device']}), batch {cfg['batch_size']}, "
            f"{cfg['new_tokens']} new tokens, {cfg['doc_tokens']} tokens/doc vs {cfg['soft_tokens_per_doc']} "
            f"soft token(s)/doc, median of {cfg['repeats']}\n\n")
    return head + table(["k", "prompt tokens (full / comp.)", "TTFT ms (full / comp.)", "TTFT ratio",
                         "end-to-end ms (full / comp.)", "end-to-end ratio", "GFLOPs ratio"], rows) + "\n"
