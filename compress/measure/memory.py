"""Peak memory of serving a model: a fresh process loads a saved model and runs forwards.

``peak_memory(model, inputs)`` saves the whole module (``torch.save``) and one input to a
temporary directory and runs ``-m compress.measure.memory`` on them in a new interpreter, so no
allocation of the benchmark process (other models, caches, the allocator's free lists) counts.
The child reads the kernel's own high-water mark of its resident set (``VmHWM``) three times:
after importing torch, transformers and the module that defines the model's class (the
baseline: interpreter and libraries, no model), after loading the model (and building it, with
``build``), and after ``forwards`` forward passes. Importing those libraries peaks hundreds of
MB above where it settles, which would hide a small model, so the child resets the mark to its
current RSS before loading (writing "5" to ``/proc/self/clear_refs``, Linux >= 4.0). psutil has
no peak-RSS counter on Linux; ``getrusage``'s ``ru_maxrss`` cannot be reset. The model's part
is peak minus baseline.

``build`` (a picklable callable, e.g. a ``functools.partial`` of ``compile_model``) turns the
loaded model into the served one inside the child: a ``torch.compile`` deployment compiles in
its serving process, so the compiler's memory is part of what that process needs. A child
that crashes or is killed (e.g. out of memory) raises MemoryProbeError naming the case; nothing
is returned for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compress.core import environment
from compress.measure.meters import serialized_size

TIMEOUT_S = 600


class MemoryProbeError(RuntimeError):
    """The memory-measuring child process failed: no figure exists for this case."""


@dataclass(frozen=True)
class MemoryProfile:
    """Resident-set high-water marks of a fresh process, in bytes."""

    baseline_bytes: int  # after importing torch + transformers, before the model
    loaded_bytes: int  # after loading (and building) the model
    peak_bytes: int  # after the forward passes: what the serving process needs
    state_bytes: int  # bytes of the model's state_dict as torch.save writes it

    @property
    def model_bytes(self) -> int:
        """The model's part of the peak: peak minus the process baseline."""
        return self.peak_bytes - self.baseline_bytes

    def to_dict(self) -> dict[str, int]:
        """JSON-ready dict; from_dict inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemoryProfile:
        """Inverse of to_dict."""
        return cls(**{k: int(d[k]) for k in cls.__dataclass_fields__})


def _status_bytes(field: str) -> int:
    """A ``/proc/self/status`` memory field (reported in kB) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise MemoryProbeError(f"/proc/self/status has no {field} line")


def _reset_high_water() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current VmRSS


def _run_child(
    model_path: Path, inputs_path: Path, forwards: int, module: str, build_path: Path | None
) -> subprocess.CompletedProcess:
    """Run this module as a fresh interpreter on the saved model and inputs."""
    env = environment.inherited({"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    args = [str(model_path), str(inputs_path), str(forwards), module, str(build_path or "")]
    cmd = [sys.executable, "-m", "compress.measure.memory", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)


def _failure(case: str, proc: subprocess.CompletedProcess) -> MemoryProbeError:
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        why = f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        why = f"exited with status {proc.returncode}"
    tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no stderr"]
    return MemoryProbeError(f"case {case}: memory probe {why}: {tail[0]}")


def peak_memory(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    *,
    forwards: int = 5,
    case: str = "?",
    build: Callable[[nn.Module], nn.Module] | None = None,
) -> MemoryProfile:
    """Peak RSS of a fresh process that loads ``model`` (then serves ``build(model)`` when
    given) and runs ``forwards`` passes on ``inputs`` (keyword arguments), on one thread."""
    if forwards < 1:
        raise ValueError(f"forwards must be >= 1, got {forwards}")
    with tempfile.TemporaryDirectory(prefix="compress-memory-") as tmp:
        model_path, inputs_path = Path(tmp) / "model.pt", Path(tmp) / "inputs.pt"
        torch.save(model, model_path)
        torch.save(dict(inputs), inputs_path)
        build_path = None if build is None else Path(tmp) / "build.pt"
        if build_path is not None:
            torch.save(build, build_path)
        try:
            module = type(model).__module__
            proc = _run_child(model_path, inputs_path, forwards, module, build_path)
        except subprocess.TimeoutExpired:
            raise MemoryProbeError(f"case {case}: memory probe ran over {TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise _failure(case, proc)
    try:
        return MemoryProfile.from_dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (IndexError, KeyError, TypeError, ValueError):
        raise MemoryProbeError(f"case {case}: memory probe printed no result") from None


def _child(
    model_path: str, inputs_path: str, forwards: int, module: str, build_path: str = ""
) -> dict[str, int]:
    """In the fresh process: the three high-water marks around load and forwards."""
    import importlib

    import transformers  # noqa: F401  (a serving process imports it: part of the baseline)

    importlib.import_module(module)  # the model's code is library too, not the model's memory
    torch.set_num_threads(1)
    inputs = torch.load(inputs_path)
    _reset_high_water()
    baseline = _status_bytes("VmHWM")
    model = torch.load(model_path, weights_only=False)  # our own file, written just now
    model.eval()
    if build_path:
        model = torch.load(build_path, weights_only=False)(model)
    loaded = _status_bytes("VmHWM")
    with torch.inference_mode():
        for _ in range(forwards):
            model(**inputs)
    peak = _status_bytes("VmHWM")
    state = serialized_size(getattr(model, "inner", model))  # a compiled model's quantized one
    return MemoryProfile(baseline, loaded, peak, state).to_dict()


if __name__ == "__main__":
    print(json.dumps(_child(*sys.argv[1:3], int(sys.argv[3]), *sys.argv[4:6])))
