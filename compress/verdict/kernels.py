"""A case's kernel record (compress.measure.kernels) as figures the gate can read.

In the run, a label the record contradicts fails the case (``Case.problems``): an int8 row
whose Linear GEMMs ran mostly in fp32, a compiled row that ran eager. Between runs of one CPU
kind, every figure here is gated with no slack: a lower labelled-precision share, one more
compiled graph (a graph break), a lower oneDNN ISA is a regression with that
reason even when the speed moved less than its tolerance, since it predicts the slowdown on
other shapes and CPUs (a compile in a steady forward fails in the run); so is a GEMM operator
replaced by another (compress.compare.judge). Kinds differ legitimately, so the share and the
graphs depend on the kind; the oneDNN ISA depends on the CPU itself, before any cap, so a run
capped by ``ONEDNN_MAX_CPU_ISA`` (another kind) is judged against the uncapped one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.measure.kernels import ISA_ORDER, Expect, KernelRecord, violations

if TYPE_CHECKING:
    from compress.verdict.case import Case

KIND = ("kind",)
CPU = ("cpu",)


def record_into(case: Case, record: KernelRecord, expect: Expect) -> None:
    """Keep ``record`` in ``case``, add its figures, and its label violations as problems."""
    case.kernels = record.to_dict()
    if record.opaque:
        return
    share = record.share(expect.precision)
    if share is not None:
        case.metric("gemm_share", share, "share", "higher", 0.0, depends_on=KIND)
    if expect.compiled:
        case.metric("compiled_graphs", record.graphs, "graphs", "lower", 0.0, depends_on=KIND)
    isa = record.isa()
    if isa is not None:
        rank = len(ISA_ORDER) - ISA_ORDER.index(isa)
        case.metric("onednn_isa_rank", rank, f"rank ({isa})", "higher", 0.0, depends_on=CPU)
    case.problems.extend(f"{case.id}: {v}" for v in violations(record, expect))
