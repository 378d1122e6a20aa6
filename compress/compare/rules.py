"""What two runs share, and so what can be compared between them (compress.compare).

A figure declares what it depends on (``Metric.depends_on``, compress.verdict.depends); the
two files' machines (``machines``) and evaluation data (``eval_data_note``) say which of
those facets the runs share, and ``unmet`` names the first one they do not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compress.measure.fingerprint import fingerprint_diff, isa_class, kind_of
from compress.verdict.depends import DependsOn, Facet
from compress.verdict.resultfile import ResultFile
from compress.verdict.results import CaseResult

CPU_FACETS = frozenset({Facet.KIND, Facet.ISA, Facet.MACHINE, Facet.CPU})  # left out by --no-time
SPEED_FACETS = frozenset({Facet.KIND, Facet.ISA})  # this CPU's speed: retested before it stands


class ProfileMismatch(ValueError):
    """The two result files were recorded with different profiles: nothing is comparable."""

    def __init__(self, baseline: str | None, candidate: str | None) -> None:
        self.baseline, self.candidate = baseline, candidate
        super().__init__(f"profile {profile_label(baseline)} vs {profile_label(candidate)}")


def profile_label(profile: object) -> str:
    """A profile as messages name it."""
    return repr(profile) if isinstance(profile, str) else "unrecorded"


@dataclass(frozen=True)
class Options:
    """Knobs for compare(); defaults match the CLI defaults."""

    time_tol: float = 0.15  # allowed relative slowdown of a latency median (--gate-latency)
    include_time: bool = True  # False: nothing that depends on the CPU (--no-time)
    gate_latency: bool = False  # also gate absolute latency medians (same machine only)
    gate_speed_anyway: bool = False  # gate speed figures even across ISA classes and kinds
    only: str | None = None  # keep benchmarks whose fullname contains this substring
    allow_missing: bool = False  # a partial run: missing and skipped cases are not regressions
    show_info: bool = False  # also list ungated metrics


@dataclass(frozen=True)
class Machines:
    """How comparable the two files' machines are for speed."""

    same: bool  # identical timing-relevant fingerprint: absolute times comparable
    speed_note: str | None  # why CPU-kind figures are not comparable; None when they are
    differences: tuple[str, ...]  # fingerprint_diff lines
    kinds: tuple[str | None, str | None] = (None, None)  # CPU kinds (baseline, candidate)
    isa_note: str | None = None  # why ISA-class figures are not comparable; None when they are
    cpu_note: str | None = None  # why figures of the CPU itself (uncapped) are not comparable

    @property
    def same_kind(self) -> bool:
        """One CPU kind (model and flags) on both sides: int8 answers are comparable too."""
        return self.kinds[0] is not None and self.kinds[0] == self.kinds[1]

    @property
    def other_kind(self) -> bool:
        """Two known, different CPU kinds."""
        return None not in self.kinds and self.kinds[0] != self.kinds[1]


def machines(baseline: ResultFile, candidate: ResultFile) -> Machines:
    """Compare the fingerprints: same machine, same CPU kind, or not comparable for speed (and
    why). Speed is compared within one CPU kind only: two kinds of one ISA class differed
    1.7x in int8 limit (an EPYC with AVX-VNNI and one without)."""
    old, new = baseline.fingerprint, candidate.fingerprint
    if not old or not new:
        which = " and ".join(w for w, fp in (("baseline", old), ("candidate", new)) if not fp)
        note = f"no machine fingerprint in {which}"
        return Machines(False, note, (), isa_note=note, cpu_note=note)
    kinds = (kind_of(old), kind_of(new))
    diff = tuple(fingerprint_diff(old, new))
    cpu = _cpu_note(old, new)
    a, b = isa_class(old.get("isa")), isa_class(new.get("isa"))
    if a is None or b is None:
        flags = old.get("isa") if a is None else new.get("isa")
        note = f"unknown ISA class (flags {flags!r})"
        return Machines(not diff, note, diff, kinds, note, cpu)
    old_isa, new_isa = set(old.get("isa") or ()), set(new.get("isa") or ())
    flags = [f"+{f}" for f in sorted(new_isa - old_isa)]
    flags += [f"-{f}" for f in sorted(old_isa - new_isa)]
    if a != b:
        note = f"ISA class {a} vs {b} (candidate {' '.join(flags)})"
        return Machines(False, note, diff, kinds, note, cpu)
    if kinds[0] != kinds[1]:
        moved = f" (candidate {' '.join(flags)})" if flags else ""
        return Machines(False, f"CPU kind {kinds[0]} vs {kinds[1]}{moved}", diff, kinds,
                        cpu_note=cpu)  # fmt: skip
    return Machines(not diff, None, diff, kinds, cpu_note=cpu)


def _cpu_note(old: Mapping[str, object], new: Mapping[str, object]) -> str | None:
    """Why the two runs' CPUs differ (model, or the flags the CPU has before any cap: a run
    capped by ONEDNN_MAX_CPU_ISA is another kind on the same CPU), or None."""
    a, b = (
        (fp.get("cpu_model"), sorted(map(str, fp.get("cpu_isa") or fp.get("isa") or ())))
        for fp in (old, new)
    )
    if not any(a) or not any(b):
        return "CPU model and flags unknown"
    return None if a == b else f"another CPU ({a[0]} vs {b[0]})"


def eval_data_note(old: CaseResult, new: CaseResult) -> str | None:
    """Why the two runs' data-dependent figures are not comparable (another split or size), or
    None. A figure without per-example evidence would otherwise be judged as if scored alike."""
    a, b = ((r.data.get("split"), r.data.get("examples")) for r in (old, new))
    if a == b or None in (a[0], b[0]):
        return None
    return f"evaluation data differ ({a[0]}, {a[1]} examples vs {b[0]}, {b[1]})"


def unmet(
    depends_on: DependsOn, machine: Machines, data_note: str | None, options: Options
) -> str | None:
    """Why a figure that depends on ``depends_on`` is not comparable between the two runs (the
    first facet they do not share), or None when it is."""
    if Facet.DATA in depends_on and data_note:
        return data_note
    anyway = options.gate_speed_anyway  # --gate-speed-anyway: across kinds and classes too
    if Facet.KIND in depends_on and machine.speed_note and not anyway:
        return machine.speed_note
    if Facet.ISA in depends_on and machine.isa_note and not anyway:
        return machine.isa_note
    if Facet.CPU in depends_on and machine.cpu_note and not anyway:
        return machine.cpu_note
    if Facet.MACHINE in depends_on and not machine.same:
        return "machines differ"
    return None


def is_speed(depends_on: DependsOn) -> bool:
    """A figure of the CPU's speed (a speedup, a throughput): noisy between processes, so its
    regression is re-measured before it stands (compress.compare.judge.confirm)."""
    return not SPEED_FACETS.isdisjoint(depends_on)
