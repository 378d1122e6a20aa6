"""Real causes for the gate's graded injections (docs/gate.md), applied by tools/gate_oc.py
to a scratch copy of the repository, never to the suite itself.

- ``perturb(fp32, sigma, seed)``: a copy whose encoder Linear weights carry Gaussian noise of
  ``sigma`` times each weight's own standard deviation (seeded): dynamic int8 of it loses F1
  the way a broken rounding or scale change would.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def perturb(model: nn.Module, sigma: float, seed: int) -> nn.Module:
    """A copy of ``model`` with noise on every encoder Linear weight (the input is untouched)."""
    out = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in out.named_modules():
            if isinstance(module, nn.Linear) and ".encoder." in f".{name}.":
                w = module.weight
                noise = torch.randn(w.shape, generator=generator, dtype=w.dtype)
                w.add_(sigma * w.std() * noise)
    return out
