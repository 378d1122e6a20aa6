"""The kernel path of one case between two runs of one CPU kind: the GEMM operators it ran.

A Linear GEMM that ran in another operator (``aten::_int_mm`` where the baseline ran
``onednn::qlinear_pointwise``: torchao's int8 without the x86 fusion patterns registered), or
in another precision, is a REGRESSION naming both even when the speed moved less than its
tolerance: it predicts the slowdown on other shapes and CPUs (issue 40). Kinds differ
legitimately (AMX, VNNI), so two kinds are not compared; nor is a record that could not
attribute its operators (``opaque``).
"""

from __future__ import annotations

from collections.abc import Mapping

from compress.compare.rules import Machines
from compress.report.compare_table import Row
from compress.verdict.results import CaseResult
from compress.verdict.status import Pseudo, Status, Verdict


def _operators(kernels: Mapping[str, object]) -> frozenset[str] | None:
    """The ``op (precision)`` names of a record's Linear GEMMs and convolutions (None: none
    recorded, or the record is opaque)."""
    if not kernels or kernels.get("opaque"):
        return None
    names = [*(kernels.get("gemm_ops") or {}), *(kernels.get("conv") or {})]
    return frozenset(map(str, names)) or None


def kernel_rows(full: str, name: str, old: CaseResult, new: CaseResult, m: Machines) -> list[Row]:
    """One REGRESSION row when the case's GEMM operators changed on one CPU kind, else []. The
    row is exact, not a timing: it is never retested (it declares no speed facet)."""
    a, b = _operators(old.kernels), _operators(new.kernels)
    if a is None or b is None or a == b or not m.same_kind:
        return []
    gone, came = ", ".join(sorted(a - b)) or "-", ", ".join(sorted(b - a)) or "-"
    why = f"GEMM operators replaced: {gone} -> {came}"
    return [Row(full, name, Pseudo.KERNELS, None, None, Verdict(Status.REGRESSION, why))]
