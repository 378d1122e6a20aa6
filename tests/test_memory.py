"""compress.measure.memory: peak RSS of a fresh process serving a model."""

from __future__ import annotations

import subprocess

import pytest
import torch
from torch import nn

from compress.measure import memory
from compress.measure.memory import MemoryProbeError, MemoryProfile, peak_memory
from compress.quantize.dynamic import quantize_dynamic


class _Wide(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(nn.Linear(512, 4096), nn.ReLU(), nn.Linear(4096, 512))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # keyword input, like HF models
        return super().forward(x)


def test_int8_model_needs_less_memory_than_fp32() -> None:
    fp32 = _Wide()
    inputs = {"x": torch.randn(4, 512)}
    a = peak_memory(fp32, inputs, forwards=2, case="wide-fp32")
    b = peak_memory(quantize_dynamic(fp32), inputs, forwards=2, case="wide-int8")
    assert a.baseline_bytes > 50 * 2**20  # torch + transformers imported
    assert a.peak_bytes >= a.loaded_bytes >= a.baseline_bytes
    assert a.state_bytes > 16 * 2**20 > b.state_bytes  # 4.2M weights: 16.8 MB vs ~4.2 MB
    assert b.model_bytes < a.model_bytes
    assert MemoryProfile.from_dict(a.to_dict()) == a


def test_a_crashing_child_names_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess([], 1, "", "Traceback...\nRuntimeError: boom\n")

    monkeypatch.setattr(memory, "_run_child", crash)
    with pytest.raises(MemoryProbeError, match="case c1: memory probe exited with status 1: Runt"):
        peak_memory(nn.Linear(2, 2), {"input": torch.ones(1, 2)}, case="c1")


def test_a_killed_child_says_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    killed = subprocess.CompletedProcess([], -9, "", "")
    monkeypatch.setattr(memory, "_run_child", lambda *a: killed)
    with pytest.raises(MemoryProbeError, match=r"case c2: .*killed by SIGKILL \(out of memory\?\)"):
        peak_memory(nn.Linear(2, 2), {"input": torch.ones(1, 2)}, case="c2")


def test_a_real_failure_in_the_child_is_reported() -> None:
    with pytest.raises(MemoryProbeError, match="case bad-input: memory probe exited"):
        peak_memory(nn.Linear(2, 2), {"wrong_name": torch.ones(1, 2)}, case="bad-input")


def test_forwards_must_be_positive() -> None:
    with pytest.raises(ValueError, match="forwards must be >= 1"):
        peak_memory(nn.Linear(2, 2), {"input": torch.ones(1, 2)}, forwards=0)
