"""The committed baseline is what CI compares against: it must read cleanly as it stands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compress.compare import compare, profile_of
from compress.results import EXTRA_INFO_KEY, read

ROOT = Path(__file__).resolve().parents[1]
BASELINES = sorted(ROOT.glob("results/*/*_baseline-*.json"))


def test_a_quick_baseline_is_committed() -> None:
    assert any(p.name.endswith("_baseline-quick.json") for p in BASELINES), BASELINES


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.name)
def test_baseline_reads_and_matches_itself(path: Path) -> None:
    doc = json.loads(path.read_text())
    profile = path.stem.rsplit("-", 1)[1]
    assert profile_of(doc) == profile, "file name and machine_info.profile disagree"
    typed = 0
    for bench in doc["benchmarks"]:
        assert bench["extra_info"].get("profile") == profile, bench["fullname"]
        if EXTRA_INFO_KEY in bench["extra_info"]:
            result = read(bench["extra_info"])  # SchemaError on a metric without direction
            assert result is not None and result.profile == profile
            typed += 1
    assert typed > 0, "no row of the baseline carries a typed result"
    rows = compare(doc, doc)
    assert not [r for r in rows if r.regression], "a baseline must not regress against itself"
