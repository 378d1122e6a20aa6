"""The lines under the comparison table (compress.compare.judge): the machines, the counts, and
what the evidence could not decide."""

from __future__ import annotations

from collections.abc import Sequence

from compress.compare.rules import Options, is_speed, machines
from compress.report.compare_table import Row
from compress.verdict.depends import Facet
from compress.verdict.resultfile import ResultFile
from compress.verdict.status import JUDGED, Status


def summary(rows: Sequence[Row], baseline: ResultFile, candidate: ResultFile, o: Options) -> str:
    """The lines under the table: machines, counts, and what the evidence could not decide."""
    lines = []
    machine = machines(baseline, candidate)
    if o.include_time and machine.speed_note:
        lines.append(f"speedups not gated: {machine.speed_note}")
    if o.include_time and machine.differences:
        lines.append("machines differ: " + "; ".join(machine.differences))
    old_way = [r for r in rows if r.status in JUDGED and r.change_ci is None and _evidenced(r)]
    if old_way:
        lines.append(
            f"note: {len(old_way)} speed or quality metrics compared the old way (one run's CI "
            "against the tolerance): a file keeps no per-round or per-example evidence"
        )
    unresolved = sorted({f"{r.name} {r.metric}" for r in rows if r.unresolved})
    if unresolved:
        lines.append(
            f"cannot resolve the declared change ({len(unresolved)}): the change CI is wider "
            "than twice the tolerance: "
            + ", ".join(unresolved[:8])
            + (", ..." if len(unresolved) > 8 else "")
        )
    regressions = sum(r.regression for r in rows)
    compared = sum(r.status in JUDGED or r.regression for r in rows)
    lines.append(
        f"{regressions} regressions in {compared} compared metrics (profile {baseline.profile})"
    )
    inconclusive = sum(r.status is Status.INCONCLUSIVE for r in rows)
    if inconclusive:
        lines.append(f"{inconclusive} inconclusive: beyond the tolerance, CI reaches no change")
    return "\n".join(lines)


def _evidenced(row: Row) -> bool:
    """A figure whose change could be judged by both runs' evidence: a speed figure (its
    rounds) or the compressed model's answers (its predictions)."""
    return is_speed(row.depends_on) or Facet.ANSWERS in row.depends_on
