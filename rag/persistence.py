"""How trained modules are stored: a dataclass config as ``config.json`` beside ``model.safetensors`` (no
pickle), plus a content fingerprint that identifies the module in benchmark configs. Shared by the projector
and the window scorer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

C = TypeVar("C", bound="JsonConfig")


class JsonConfig:
    """Mixin for dataclass configs: indented JSON out; in, keys this version does not know are ignored."""

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def jsonable(value: object) -> object:
    """Tuples as lists, so an in-memory config record equals (and fingerprints like) its JSON round trip."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def save_module(module: nn.Module, config: JsonConfig, directory: str | Path,
                dtype: torch.dtype = torch.float32) -> None:
    """Write ``config.json`` and ``model.safetensors`` (weights cast to ``dtype``: fp16 for shipping)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config.save(directory / CONFIG_FILE)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})


def require_saved(directory: str | Path, what: str, how: str) -> Path:
    """``directory`` as a Path, after checking it holds both files; the error names the missing one and ``how``
    to get a folder that has them."""
    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{what} directory {directory} has no {name}; point to a folder written by {how}")
    return directory


def load_weights(directory: Path) -> dict[str, torch.Tensor]:
    """``model.safetensors`` as float32 tensors (shipped weights are fp16)."""
    return {k: v.float() for k, v in load_file(str(directory / WEIGHTS_FILE)).items()}


# Config fields that record where a module came from (data, steps, history), not what it computes.
PROVENANCE_FIELDS = frozenset({"training"})


def module_fingerprint(config: object, module: nn.Module) -> str:
    """sha256 over the config fields that set what the module computes and every weight (as float32), first 16 hex
    digits. Fields at their declared default and provenance fields are left out, so a later version adding a field
    (whose default keeps the old behaviour), or a card gaining a record, leaves the fingerprints of the same weights
    as they were."""
    h = hashlib.sha256(repr(sorted(_behaviour_fields(config).items())).encode())
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _behaviour_fields(config: object) -> dict[str, object]:
    """``config``'s fields, less provenance and those equal to their dataclass default."""
    values = {}
    for f in fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        default = f.default if f.default_factory is MISSING else f.default_factory()
        if f.name not in PROVENANCE_FIELDS and (default is MISSING or value != default):
            values[f.name] = value
    return values
