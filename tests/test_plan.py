"""The training plan (fixtures.store.plan) and the profiles it is printed for (recipes.profiles)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from compress.measure.fingerprint import machine_fingerprint
from fixtures.recipes.profiles import MIN_ROUNDS, PROFILES, get_profile
from fixtures.store import cache as store_cache
from fixtures.store import plan
from fixtures.store.cache import cached_entry


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPRESS_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(plan, "COLD_START", tmp_path / "absent")
    return tmp_path


def _build(out: Path) -> None:
    (out / "w.bin").write_bytes(b"weights")


def test_ledger_then_plan_says_cached_and_to_build(cache: Path) -> None:
    used: list[Path] = []
    for recipe in ({"a": 1}, {"a": 2}):
        used.append(cached_entry("finetuned", recipe, _build))
    path = plan.write_ledger("quick", used)
    assert path is not None and json.loads(path.read_text())["profile"] == "quick"
    lines = plan.plan_lines("quick")
    assert sum("cached" in line for line in lines) == 2
    (used[1] / "w.bin").write_bytes(b"tampered")  # a corrupted entry is rebuilt, not used
    lines = plan.plan_lines("quick")
    assert sum("cached" in line for line in lines) == 1
    assert any(line.strip().startswith("build ~") for line in lines)


def test_plan_without_any_ledger_says_so(cache: Path) -> None:
    assert plan.plan_lines("full") == [
        "plan: no ledger for profile full yet; what it trains is timed now"
    ]


def test_cold_start_ledger_lists_everything_to_build(cache: Path, monkeypatch) -> None:
    (cache / "cold").mkdir()
    cold = cache / "cold" / "quick.json"
    row = {"kind": "distilled", "entry": "abc", "build_seconds": 90.0, "built_on": None}
    cold.write_text(json.dumps({"profile": "quick", "written": "then", "entries": [row]}))
    monkeypatch.setattr(plan, "COLD_START", cold.parent)
    lines = plan.plan_lines("quick")
    assert "a cold run" in lines[0]
    assert "build ~1.5 min" in lines[1] and "distilled MRPC student" in lines[1]
    assert plan.plan_lines("full")[0].startswith("plan: no ledger")  # other profile: not used


def test_nothing_used_writes_no_ledger(cache: Path) -> None:
    assert plan.write_ledger("quick", []) is None
    assert not (cache / "ledgers").exists()


def test_cache_records_build_seconds_and_cpu(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]  # a clock the build moves: the figure must be the build's own time

    def slow_build(out: Path) -> None:
        now[0] += 12.34
        _build(out)

    monkeypatch.setattr(store_cache, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    entry = cached_entry("digits", {"x": 1}, slow_build)
    manifest = json.loads((entry / "MANIFEST.json").read_text())
    assert manifest["build_seconds"] == 12.3
    fp = machine_fingerprint()
    assert fp["cpu_model"] and fp["isa"]  # else the comparison below proves nothing
    assert manifest["built_on"] == {
        "cpu_model": fp["cpu_model"],
        "isa": fp["isa"],
        "cores": os.cpu_count(),
    }


def test_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPRESS_BENCH_PROFILE", raising=False)
    assert get_profile("full").name == "full" and get_profile(None).name == "quick"
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("fast")
    quick, full = PROFILES["quick"], PROFILES["full"]
    assert quick.rounds(20) < full.rounds(20) == 20 and quick.rounds(1) == MIN_ROUNDS == 6
    assert quick.kd_seeds["mrpc"] <= full.kd_seeds["mrpc"]
    assert quick.finetune_epochs <= full.finetune_epochs and not full.scaling_batches
    with pytest.raises(ValueError):
        type(quick)(**{**quick.to_dict(), "lstm_epochs": 0})
    with pytest.raises(ValueError):
        type(quick)(**{**quick.to_dict(), "finetune_epochs": 0})
    assert full.compiled_methods is None  # every compiled method; quick: fewer
    assert set(quick.compiled_batches) < set(full.compiled_batches)
    with pytest.raises(ValueError, match=r"unknown compiled method\(s\) \['int3'\]"):
        type(quick)(**{**quick.to_dict(), "compiled_methods": ("compiled-fp32", "int3")})


def test_profile_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESS_BENCH_PROFILE", "full")
    assert get_profile().name == "full"


def test_entries_outside_the_cache_are_not_in_the_ledger(cache: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("other-cache")
    outside = cached_entry("finetuned", {"a": 3}, _build, root=elsewhere)
    inside = cached_entry("finetuned", {"a": 4}, _build)
    assert plan.write_ledger("quick", [outside]) is None
    path = plan.write_ledger("quick", [outside, inside])
    assert path is not None
    assert [r["entry"] for r in json.loads(path.read_text())["entries"]] == [inside.name]


def test_every_profile_has_a_committed_cold_ledger() -> None:
    # read from the repository, not through the fixture's stand-in
    folder = Path(plan.__file__).with_name("cold_start")
    for name in PROFILES:
        doc = json.loads((folder / f"{name}.json").read_text())
        assert doc["profile"] == name and doc["entries"]
        assert all(row["build_seconds"] is not None for row in doc["entries"])
