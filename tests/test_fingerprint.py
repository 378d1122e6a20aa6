"""compress.measure.fingerprint: cpuinfo parsing, the fingerprint dict, its id and its diff."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from compress.measure import fingerprint as fpmod
from compress.measure.fingerprint import (
    capped_isa,
    fingerprint_diff,
    fingerprint_id,
    isa_caps,
    isa_class,
    machine_fingerprint,
    parse_cpuinfo,
)

X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512vnni \
avx512_bf16 amx_tile amx_int8 amx_bf16 avx_vnni ssse3 erms

processor\t: 1
model name\t: Some Other Core
flags\t\t: fpu sse4_2
"""

ARM_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp asimddp sve
CPU implementer\t: 0x41
"""


@pytest.fixture(scope="module")
def fingerprint() -> dict[str, object]:
    return machine_fingerprint()


@pytest.mark.parametrize(
    ("text", "model", "isa"),
    [
        pytest.param(
            X86_CPUINFO,
            "Intel(R) Xeon(R) Platinum 8480+",
            [
                "amx_bf16",
                "amx_int8",
                "amx_tile",
                "avx",
                "avx2",
                "avx512_bf16",
                "avx512_vnni",
                "avx512bw",
                "avx512f",
                "avx512vl",
                "avx_vnni",
                "f16c",
                "fma",
                "sse4_2",
            ],
            id="x86-first-processor-vnni-normalised",
        ),
        pytest.param(ARM_CPUINFO, None, ["asimd", "asimddp"], id="arm-features-no-model"),
        pytest.param("", None, [], id="empty"),
    ],
)
def test_parse_cpuinfo(text: str, model: str | None, isa: list[str]) -> None:
    assert parse_cpuinfo(text) == (model, isa)


def test_fingerprint_is_json_serialisable(fingerprint: dict[str, object]) -> None:
    assert json.loads(json.dumps(fingerprint)) == fingerprint


def test_fingerprint_has_expected_fields(fingerprint: dict[str, object]) -> None:
    expected = {
        "cpu_model",
        "cpu_count",
        "isa",
        "torch_cpu_capability",
        "quantized_engine",
        "quantized_engines_supported",
        "threads",
        "interop_threads",
        "versions",
        "platform",
        "machine",
        "id",
    }
    assert expected <= fingerprint.keys()
    versions = fingerprint["versions"]
    assert isinstance(versions, dict)
    assert set(versions) == {"python", *fpmod.VERSIONED_DISTRIBUTIONS}
    assert versions["torch"]
    assert fingerprint["quantized_engine"] in fingerprint["quantized_engines_supported"]


def test_id_is_stable_and_short(fingerprint: dict[str, object]) -> None:
    again = machine_fingerprint()
    assert again["id"] == fingerprint["id"] == fingerprint_id(fingerprint)
    assert len(str(fingerprint["id"])) == 12


@pytest.mark.parametrize(
    ("field", "value", "changes_id"),
    [
        pytest.param("isa", ["avx2"], True, id="isa"),
        pytest.param("cpu_model", "Other CPU", True, id="cpu_model"),
        pytest.param("quantized_engine", "qnnpack", True, id="engine"),
        pytest.param("threads", 64, False, id="threads-not-in-id"),
    ],
)
def test_id_depends_on_hardware_and_engine(
    fingerprint: dict[str, object], field: str, value: object, changes_id: bool
) -> None:
    changed = dict(fingerprint, **{field: value})
    assert (fingerprint_id(changed) != fingerprint_id(fingerprint)) is changes_id


def test_cpuinfo_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ARM_CPUINFO)
    monkeypatch.setattr(fpmod, "CPUINFO_PATH", cpuinfo)
    assert machine_fingerprint()["isa"] == ["asimd", "asimddp"]


def test_missing_cpuinfo_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fpmod, "CPUINFO_PATH", tmp_path / "absent")
    monkeypatch.setattr(fpmod.platform, "processor", lambda: "fallback-cpu")
    fp = machine_fingerprint()
    assert (fp["cpu_model"], fp["isa"]) == ("fallback-cpu", [])


def test_uninstalled_package_version_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version

    def fake_version(name: str) -> str:
        if name == "onnxruntime":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(fpmod.metadata, "version", fake_version)
    versions = machine_fingerprint()["versions"]
    assert isinstance(versions, dict)
    assert versions["onnxruntime"] is None


def test_heavy_packages_not_imported() -> None:
    code = (
        "import sys; from compress.measure.fingerprint import machine_fingerprint; "
        "machine_fingerprint(); "
        "print(sorted(m for m in ('transformers', 'onnxruntime', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _variant(fp: dict[str, object], **changes: object) -> dict[str, object]:
    other = copy.deepcopy(fp)
    other.update(changes)
    return other


def test_diff_empty_for_equal(fingerprint: dict[str, object]) -> None:
    assert fingerprint_diff(fingerprint, copy.deepcopy(fingerprint)) == []


def test_diff_ignores_fields_that_do_not_affect_timing(fingerprint: dict[str, object]) -> None:
    other = _variant(fingerprint, platform="elsewhere", cpu_count=999, interop_threads=7)
    assert fingerprint_diff(fingerprint, other) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"isa": ["avx2"]},
            ["isa: baseline has avx512_vnni, candidate lacks it"],
            id="isa-lost",
        ),
        pytest.param(
            {"isa": ["avx2", "avx512_vnni", "amx_int8", "amx_tile"]},
            ["isa: candidate has amx_int8, amx_tile, baseline lacks them"],
            id="isa-gained",
        ),
        pytest.param(
            {"quantized_engine": "qnnpack"},
            ["quantized_engine: baseline 'x86', candidate 'qnnpack'"],
            id="engine",
        ),
        pytest.param({"threads": 8}, ["threads: baseline 2, candidate 8"], id="threads"),
        pytest.param(
            {"versions": {"torch": "2.14.0", "transformers": "5.0", "onnxruntime": None}},
            ["versions.torch: baseline '2.13.0', candidate '2.14.0'"],
            id="torch-version",
        ),
    ],
)
def test_diff_reports_differences(changes: dict[str, object], expected: list[str]) -> None:
    baseline = {
        "cpu_model": "Xeon",
        "isa": ["avx2", "avx512_vnni"],
        "quantized_engine": "x86",
        "threads": 2,
        "versions": {"torch": "2.13.0", "transformers": "5.0", "onnxruntime": None},
    }
    assert fingerprint_diff(baseline, _variant(baseline, **changes)) == expected


@pytest.mark.parametrize(
    ("isa", "cls"),
    [
        (["avx2", "avx512f", "avx512bw", "avx512_vnni", "amx_int8"], "amx"),
        (["avx2", "avx512f", "avx512bw", "avx512_vnni"], "avx512-vnni"),
        (["avx2", "AVX512VNNI"], "avx512-vnni"),  # alias spelling
        (["avx2", "avx_vnni"], "avx-vnni"),
        (["avx2", "avx512f", "avx512bw"], "avx512"),
        (["avx2", "fma", "avx512f"], "avx2"),  # avx512f alone is not the avx512 class
        (["asimd", "asimddp"], "arm-dotprod"),
        (["sse4_2", "avx"], None),
        ([], None),
        (None, None),
        ("avx2", None),  # not a list of flags
    ],
)
def test_isa_class(isa: object, cls: str | None) -> None:
    assert isa_class(isa) == cls


VNNI_FLAGS = ["avx", "avx2", "avx512bw", "avx512f", "avx512_vnni", "fma"]


@pytest.mark.parametrize(
    ("cap", "expected_class"),
    [
        ("AVX2", "avx2"),
        ("avx2", "avx2"),
        ("AVX512", "avx512"),
        ("AVX512_E1", "avx512-vnni"),
        ("bogus", "avx512-vnni"),
    ],
)
def test_fbgemm_cap_gives_the_class_the_kernels_can_use(cap: str, expected_class: str) -> None:
    caps = isa_caps({"FBGEMM_ENABLE_INSTRUCTIONS": cap, "UNRELATED": "1"})
    assert caps == {"FBGEMM_ENABLE_INSTRUCTIONS": cap}
    assert isa_class(capped_isa(VNNI_FLAGS, caps)) == expected_class


def test_fp32_caps_are_recorded_but_leave_the_int8_class() -> None:
    # MKL and ATen cap fp32 kernels only: the run is recorded as capped, its int8 class kept
    fp32_caps = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    caps = isa_caps(fp32_caps)
    assert caps == fp32_caps
    assert isa_class(capped_isa(VNNI_FLAGS, caps)) == "avx512-vnni"


def test_capped_run_records_cap_and_cpu_flags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name : x\nflags : " + " ".join(VNNI_FLAGS) + "\n")
    monkeypatch.setattr(fpmod, "CPUINFO_PATH", cpuinfo)
    for name in fpmod.ISA_CAP_VARS:
        monkeypatch.delenv(name, raising=False)
    uncapped = machine_fingerprint()
    assert "isa_caps" not in uncapped and isa_class(uncapped["isa"]) == "avx512-vnni"
    monkeypatch.setenv("FBGEMM_ENABLE_INSTRUCTIONS", "AVX2")
    capped = machine_fingerprint()
    assert capped["isa_caps"] == {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2"}
    assert capped["cpu_isa"] == uncapped["isa"] and isa_class(capped["isa"]) == "avx2"
    assert capped["id"] != uncapped["id"]
    assert any(line.startswith("isa_caps") for line in fingerprint_diff(uncapped, capped))
