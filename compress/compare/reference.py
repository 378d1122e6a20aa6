"""Which run a candidate is gated against: a baseline of its own CPU kind, else the kind's
local reference, else (a kind never seen) another kind's baseline for what does not depend on
the CPU, while the run becomes the kind's local reference.

A CPU kind is its model plus the ISA flags its kernels use (compress.measure.fingerprint.
cpu_kind): speedups and int8 answers are properties of the kind, so only a run of the same kind
can gate them. Committed baselines are ``results/<machine>/NNNN_baseline-<profile>[...].json``
(``python -m compress.baseline record``); a kind's local reference is
``results/local/<profile>@<kind>.json``, written by the first gated run on that kind and grown
by later runs' new cases, never committed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.core.errors import InputError
from compress.measure.fingerprint import isa_class, kind_of
from compress.verdict.resultfile import OUTCOMES_KEY, ResultFile, load

LOCAL = "local"  # results/local/: the kinds' local references (gitignored)


@dataclass(frozen=True)
class Reference:
    """The file a run is gated against, and what that comparison can gate."""

    path: Path
    same_kind: bool  # of the candidate's CPU kind: speed, int8 answers and retest gated
    local: bool  # the kind's local reference (results/local), not a committed baseline
    record_to: Path | None  # where this run is recorded (or its new cases added) as reference
    lines: tuple[str, ...]  # what the gate says first


def local_path(results: Path, profile: str, kind: str) -> Path:
    """Where the local reference of ``kind`` for ``profile`` lives."""
    return Path(results) / LOCAL / f"{profile}@{kind}.json"


def committed(results: Path, profile: str) -> list[tuple[Path, ResultFile]]:
    """Committed baselines of ``profile`` under ``results`` (by name; local references and
    files of another profile excluded)."""
    found = sorted(Path(results).glob(f"*/*_baseline-{profile}*.json"))
    loaded = [(p, load(p)) for p in found if p.parent.name != LOCAL]
    return [(p, f) for p, f in loaded if f.profile == profile]


def choose(results: Path, profile: str | None, fingerprint: Mapping[str, Any],
           source: str | Path = "(this run)") -> Reference:  # fmt: skip
    """The reference of a run of ``profile`` on the machine of ``fingerprint`` (see the module
    docstring). InputError (naming ``source`` or the folder) when the run has no fingerprint or
    profile, or the folder holds nothing of its profile."""
    kind = kind_of(fingerprint) if fingerprint else None
    if kind is None:
        raise InputError(source, "no machine fingerprint: the run cannot be gated")
    if profile is None:
        raise InputError(source, "no profile recorded: the run cannot be gated")
    baselines = committed(results, profile)
    own = [(p, f) for p, f in baselines if kind_of(f.fingerprint) == kind]
    if own:
        line = f"gate: baseline {own[0][0]} (committed, this CPU kind {kind}): everything gated"
        return Reference(own[0][0], True, False, None, (line,))
    local = local_path(results, profile, kind)
    if local.exists():
        held = load(local)
        if held.profile != profile or kind_of(held.fingerprint) != kind:
            raise InputError(local, f"not a local reference of profile {profile!r}, kind {kind}")
        line = (f"gate: reference {local} (this CPU kind {kind}'s local reference; no committed "
                "baseline of the kind): everything gated; new cases are added to it")  # fmt: skip
        return Reference(local, True, True, local, (line,))
    if not baselines:
        raise InputError(results, f"no committed *_baseline-{profile}*.json of profile "
                         f"{profile!r} and no local reference {local.name}")  # fmt: skip
    cls = isa_class(fingerprint.get("isa"))
    near = [b for b in baselines if isa_class(b[1].fingerprint.get("isa")) == cls] or baselines
    return Reference(near[0][0], False, False, local, _first_run_lines(near[0], kind, local))


def _first_run_lines(taken: tuple[Path, ResultFile], kind: str, local: Path) -> tuple[str, ...]:
    path, base = taken
    return (
        f"gate: no baseline of this CPU kind ({kind}) exists; taking {path} "
        f"(kind {kind_of(base.fingerprint)}, {base.fingerprint.get('cpu_model')})",
        "gate: gated against it: sizes, completeness (failed, skipped, missing cases), fp32 "
        "quality; int8 quality moves with identical fp32 figures are reported as kind "
        "differences, not failed",
        "gate: NOT gated: speed (speedups, the int8 limit): another kind's kernels",
        f"gate: this run becomes the kind's local reference {local}; the next run gates "
        "everything against it, retest included (python -m compress.baseline record makes a "
        "committed one)",
    )


def record(reference: Reference, saved: dict[str, Any]) -> str | None:
    """Write ``saved`` (this run's document) as the kind's local reference, or add its cases
    that the reference lacks; only cases that passed are taken. What was done, or None."""
    if reference.record_to is None:
        return None
    outcomes = (saved.get(OUTCOMES_KEY) or {}).get("outcomes") or {}
    passed = {k for k, v in outcomes.items() if str(v).startswith("passed")}
    doc = copy.deepcopy(saved)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["fullname"] in passed]
    doc[OUTCOMES_KEY] = {**(doc.get(OUTCOMES_KEY) or {}),
                         "outcomes": {k: "passed" for k in sorted(passed)}}  # fmt: skip
    target = reference.record_to
    if target.exists():
        held = load(target).doc
        have = {b["fullname"] for b in held["benchmarks"]}
        new = [b for b in doc["benchmarks"] if b["fullname"] not in have]
        if not new:
            return None
        held["benchmarks"] += new
        held_outcomes = held.setdefault(OUTCOMES_KEY, {}).setdefault("outcomes", {})
        held_outcomes.update({b["fullname"]: "passed" for b in new})
        doc, what = held, f"{len(new)} new cases added to the local reference {target}"
    else:
        what = f"recorded as this kind's local reference: {target} ({len(doc['benchmarks'])} cases)"
    if not doc["benchmarks"]:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    tmp.replace(target)
    return what
