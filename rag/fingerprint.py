"""A short content hash of a trained module: identifies projectors and window scorers in benchmark configs."""

from __future__ import annotations

import hashlib

from torch import nn


def module_fingerprint(config: object, module: nn.Module) -> str:
    """sha256 over the config's fields and every weight (as float32), first 16 hex digits."""
    h = hashlib.sha256(repr(sorted(vars(config).items())).encode())
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
