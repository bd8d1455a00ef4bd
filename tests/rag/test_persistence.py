"""The module fingerprint: what a benchmark records to say which weights answered."""

from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from rag.persistence import module_fingerprint


@dataclass
class _Config:
    width: int
    depth: int = 2
    training: dict = field(default_factory=dict)


@dataclass
class _LaterConfig(_Config):  # a later version of the same config, with a new field whose default keeps behaviour
    gate: bool = False


@pytest.fixture
def module() -> nn.Module:
    return nn.Linear(3, 2)


def test_a_new_field_at_its_default_and_provenance_leave_the_fingerprint_alone(module):
    before = module_fingerprint(_Config(width=4, depth=3), module)
    assert module_fingerprint(_LaterConfig(width=4, depth=3), module) == before
    assert module_fingerprint(_LaterConfig(width=4, depth=3, training={"steps": 300}), module) == before


@pytest.mark.parametrize("config", [_Config(width=5, depth=3), _Config(width=4), _LaterConfig(width=4, depth=3,
                                                                                             gate=True)])
def test_what_sets_the_computation_changes_the_fingerprint(module, config):
    assert module_fingerprint(config, module) != module_fingerprint(_Config(width=4, depth=3), module)


def test_every_weight_counts(module):
    before = module_fingerprint(_Config(width=4), module)
    with torch.no_grad():
        module.bias[0] += 1e-3
    assert module_fingerprint(_Config(width=4), module) != before
