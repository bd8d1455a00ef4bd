"""Resumable training checkpoints without pickle: safetensors for tensors, JSON for the rest.

A checkpoint holds the projector weights, the AdamW state, the LR-schedule position, the data order
position and the torch RNG state, so a resumed run continues exactly where the original would be.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STATE_FILE = "trainer_state.json"
TENSORS_FILE = "checkpoint.safetensors"


def save_checkpoint(directory: Path, projector: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict) -> None:
    """Write atomically (tmp dir + rename): a run killed mid-save keeps its previous checkpoint."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in projector.state_dict().items()}
    opt_state = optimizer.state_dict()
    for pid, pstate in opt_state["state"].items():
        for name, value in pstate.items():
            tensors[f"optim.{pid}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(tmp / TENSORS_FILE))
    meta = {"trainer": state, "param_groups": opt_state["param_groups"],
            "python_random": _py_random_state()}
    (tmp / STATE_FILE).write_text(json.dumps(meta, indent=1))
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, directory)


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The projector's ``state_dict`` out of a checkpoint's tensors."""
    return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}


def load_checkpoint(directory: Path, projector: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore weights, optimizer and RNG in place; returns the trainer state dict saved with them."""
    tensors = load_file(str(directory / TENSORS_FILE))
    meta = json.loads((directory / STATE_FILE).read_text())
    projector.load_state_dict(model_state(tensors))
    per_param: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            per_param.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    _set_py_random_state(meta["python_random"])
    return meta["trainer"]


def _py_random_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_py_random_state(state: list) -> None:
    version, internal, gauss = state
    random.setstate((version, tuple(internal), gauss))
