"""A reader adapter: low-rank deltas on the frozen LLM's linear layers, active only while it reads soft tokens.

The frozen 135M reader reads a soft token well only when it looks like one of its own tokens (docs/results.md,
"Soft tokens that carry two tokens each"). COCOM's answer is to tune the reader; this module does it the PEFT way,
composed with the LLM rather than written into it: each targeted ``nn.Linear`` gets ``up(down(x)) * alpha / rank``
added to its output by a forward hook, attached for the duration of a compressed forward
(:meth:`ReaderAdapter.attached`) and removed after, so every other mode reads with the LLM exactly as loaded. The
deltas live in the projector (its state dict, its fingerprint, its ``model.safetensors``); ``up`` starts at zero,
so a new adapter changes nothing until it is trained.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from rag.errors import ProjectorMismatchError

# Attention's four projections: how the reader attends to the soft tokens is what it has to learn.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def target_names(modules: Iterable[str]) -> list[str]:
    """The targets that name ``modules`` (LLM module names), sorted: each name's last part, e.g. ``q_proj``."""
    return sorted({name.rsplit(".", 1)[-1] for name in modules})


def reader_adapter_spec(model: nn.Module, rank: int, targets: Sequence[str] = DEFAULT_TARGETS,
                        alpha: float | None = None, dropout: float = 0.0) -> dict[str, Any]:
    """What :class:`ReaderAdapter` builds for ``model``: ``rank``, ``alpha`` (default ``2 * rank``) and
    ``modules``, ``{name: [in_features, out_features]}`` for every ``nn.Linear`` whose last name part is in
    ``targets``; ``dropout`` (PEFT's ``lora_dropout``: on each delta's input, in training only) is stored only
    when > 0, so adapters without it keep their config and fingerprint. Stored as ``ProjectorConfig.reader_adapter``,
    so a projector is built without the LLM."""
    if rank < 1:
        raise ValueError(f"a reader adapter's rank is >= 1, got {rank}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"a reader adapter's dropout is a probability in [0, 1), got {dropout}")
    modules = {name: [m.in_features, m.out_features] for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets}
    missing = sorted(set(targets) - set(target_names(modules)))
    if missing:  # a misspelt target would otherwise train fewer layers than asked, silently
        raise ValueError(f"the LLM has no nn.Linear named {missing}: pass the last name parts of its linear "
                         f"layers as targets, e.g. {list(DEFAULT_TARGETS)} (attention) or gate_proj, up_proj, "
                         "down_proj (the MLP) in a Llama-style LLM")
    spec = {"rank": rank, "alpha": float(alpha if alpha is not None else 2 * rank), "modules": modules}
    return {**spec, "dropout": float(dropout)} if dropout else spec


TRAINING_ONLY_KEYS = ("dropout",)


def reading_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` without the settings that act in training only (``dropout``): what decides how the adapter reads.
    Two adapters whose reading specs are equal hold weights that mean the same thing."""
    return {k: v for k, v in spec.items() if k not in TRAINING_ONLY_KEYS}


class LowRankDelta(nn.Module):
    """``x (..., d_in) -> up(down(dropout(x))) * scale (..., d_out)``; ``up`` starts at zero, so the delta starts at
    zero. The dropout (no parameters) acts in training mode only."""

    def __init__(self, d_in: int, d_out: int, rank: int, scale: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.down = nn.Linear(d_in, rank, bias=False)
        self.up = nn.Linear(rank, d_out, bias=False)
        nn.init.zeros_(self.up.weight)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(self.dropout(x))) * self.scale


def _key(module_name: str) -> str:
    """A module name as a ModuleDict key (which cannot hold dots)."""
    return module_name.replace(".", "-")


class ReaderAdapter(nn.Module):
    """One :class:`LowRankDelta` per LLM module named in ``spec["modules"]`` (:func:`reader_adapter_spec`)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        rank, scale = int(spec["rank"]), float(spec["alpha"]) / int(spec["rank"])
        dropout = float(spec.get("dropout", 0.0))
        self.deltas = nn.ModuleDict({_key(name): LowRankDelta(d_in, d_out, rank, scale, dropout)
                                     for name, (d_in, d_out) in spec["modules"].items()})
        self._owners: set[int] = set()  # threads it is attached in (attaching twice would add the deltas twice)

    def check_fits(self, model: nn.Module) -> dict[str, nn.Linear]:
        """The LLM modules the deltas attach to; refuses an LLM that lacks one or whose shape differs."""
        found = dict(model.named_modules())
        problems = []
        for name, (d_in, d_out) in self.spec["modules"].items():
            m = found.get(name)
            if not isinstance(m, nn.Linear) or (m.in_features, m.out_features) != (d_in, d_out):
                shape = (m.in_features, m.out_features) if isinstance(m, nn.Linear) else "missing"
                problems.append(f"{name}: adapter {(d_in, d_out)} vs LLM {shape}")
        if problems:
            raise ProjectorMismatchError(f"the projector's reader adapter does not fit this LLM ({problems[0]}"
                                         f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); use the "
                                         "LLM it was trained with, or a projector trained for this one")
        return {name: found[name] for name in self.spec["modules"]}

    @contextmanager
    def attached(self, model: nn.Module) -> Iterator[None]:
        """Within the block, ``model``'s targeted layers add their deltas, in this thread only (a stream's
        generation thread, or another thread reading text with the same LLM, is left as loaded)."""
        owner = threading.get_ident()
        if owner in self._owners:
            raise RuntimeError("this reader adapter is already attached in this thread; attaching it again would add "
                               "its deltas twice: read within the one `Projector.reading(llm)` block")
        handles = [module.register_forward_hook(self._hook(self.deltas[_key(name)], owner))
                   for name, module in self.check_fits(model).items()]
        self._owners.add(owner)
        try:
            yield
        finally:
            self._owners.discard(owner)
            for h in handles:
                h.remove()

    @staticmethod
    def _hook(delta: LowRankDelta, owner: int):
        def add_delta(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
            if threading.get_ident() != owner:
                return output
            return output + delta(args[0].to(delta.up.weight.dtype)).to(output.dtype)
        return add_delta
