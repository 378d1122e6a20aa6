"""The committed baseline is what CI compares against: it must read cleanly as it stands,
every row that records figures must carry a typed result, and its declarations are pinned
here so that a mis-declared direction fails CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from compress.compare import compare
from compress.resultfile import load

ROOT = Path(__file__).resolve().parents[1]
BASELINES = sorted(ROOT.glob("results/*/*_baseline-*.json"))

# (metric, direction) the baseline must declare wherever the metric appears
DECLARED = {
    "speedup": "higher",
    "size_bytes": "lower",
    "size_ratio": "lower",
    "size_reference_bytes": "report",
    "f1_drop_pts": "lower",
    "accuracy_drop_pts": "lower",
    "f1_reference": "higher",
    "f1_compressed": "higher",
    "params_ratio": "higher",
    "loss_delta": "lower",
    "speedup_baseline_s": "report",
    "speedup_candidate_s": "report",
}


def test_a_quick_baseline_is_committed() -> None:
    assert any(p.name.endswith("_baseline-quick.json") for p in BASELINES), BASELINES


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.name)
def test_baseline_reads_and_matches_itself(path: Path) -> None:
    result = load(path)  # InputError on a legacy row, another schema, a metric sans direction
    profile = path.stem.rsplit("-", 1)[1]
    assert result.profile == profile, "file name and machine_info.profile disagree"
    typed = [c for c in result.cases.values() if c is not None]
    assert len(typed) >= 60, f"only {len(typed)} rows carry a typed result"
    for case in typed:
        assert case.profile == profile
        for name, metric in case.metrics.items():
            want = DECLARED.get(name)
            assert want is None or metric.direction == want, (case.case, name, metric.direction)
            if metric.unit == "s":
                assert metric.direction == "report", (case.case, name)
    rows = compare(result, result)
    assert not [r for r in rows if r.regression], "a baseline must not regress against itself"
