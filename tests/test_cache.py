"""Recipe-keyed cache: atomic publication, verification, rebuild of corrupted entries."""

from __future__ import annotations

import json

import pytest

from fixtures.store.cache import MANIFEST, cache_dir, cached_entry, recipe_hash, verify_entry


def _write(text: str):
    def build(staging):
        (staging / "weights.bin").write_text(text)

    return build


def test_recipe_hash_ignores_key_order() -> None:
    assert recipe_hash({"a": 1, "b": [1, 2]}) == recipe_hash({"b": [1, 2], "a": 1})
    assert recipe_hash({"a": 1}) != recipe_hash({"a": 2})


def test_cache_dir_follows_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("COMPRESS_BENCH_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"


def test_second_call_reuses_entry(tmp_path) -> None:
    calls = []

    def build(staging):
        calls.append(1)
        (staging / "weights.bin").write_text("w")

    first = cached_entry("models", {"r": 1}, build, root=tmp_path)
    second = cached_entry("models", {"r": 1}, build, root=tmp_path)
    assert first == second and len(calls) == 1
    assert verify_entry(first) is None
    assert json.loads((first / MANIFEST).read_text())["recipe"] == {"r": 1}


def test_failed_build_leaves_nothing(tmp_path) -> None:
    def build(staging):
        (staging / "partial.bin").write_text("half")
        raise RuntimeError("download died")

    with pytest.raises(RuntimeError, match="download died"):
        cached_entry("models", {"r": 2}, build, root=tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize("damage", ["edit", "delete", "manifest"])
def test_corrupted_entry_is_rebuilt_not_used(tmp_path, damage: str, caplog) -> None:
    entry = cached_entry("models", {"r": 3}, _write("good"), root=tmp_path)
    if damage == "edit":
        (entry / "weights.bin").write_text("evil")
    elif damage == "delete":
        (entry / "weights.bin").unlink()
    else:
        (entry / MANIFEST).unlink()
    assert verify_entry(entry) is not None
    again = cached_entry("models", {"r": 3}, _write("good"), root=tmp_path)
    assert (again / "weights.bin").read_text() == "good"
    assert "corrupted" in caplog.text
