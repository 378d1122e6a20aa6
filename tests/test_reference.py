"""Which reference a run is gated against (compress.compare.reference), what another CPU kind
can gate, the retest's verdicts, and the settings that reach it (fixtures.plugins)."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import fields
from pathlib import Path

import pytest
from _pytest.config.argparsing import Parser

from compress.compare.cli import main
from compress.compare.judge import compare, confirm
from compress.compare.reference import choose, local_path, record
from compress.compare.rules import Options
from compress.core.errors import InputError
from compress.measure.fingerprint import cpu_kind, kind_of
from compress.verdict.resultfile import from_doc, load
from compress.verdict.results import Metric
from compress.verdict.status import Status, Verdict
from fixtures.plugins.settings import Settings
from tests.test_compare_evidence import CASE, _doc, _flip, _labels, _quality, _speed

ROOT = Path(__file__).resolve().parents[1]
EPYC = {"cpu_model": "AMD EPYC", "isa": ["avx2", "avx512_vnni"], "quantized_engine": "x86"}
EPYC_VNNI = {**EPYC, "isa": ["avx2", "avx512_vnni", "avx_vnni"]}
XEON = {**EPYC, "cpu_model": "Intel(R) Xeon(R) Platinum 8480C", "isa": ["amx_int8", "avx2"]}


def _write(folder: Path, name: str, doc: dict) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_a_kind_is_the_model_plus_its_flags() -> None:
    assert cpu_kind(EPYC) != cpu_kind(EPYC_VNNI)  # one model name, two kinds
    assert cpu_kind(EPYC).startswith("amd-epyc-avx512-vnni-")
    assert cpu_kind(XEON).startswith("intel-xeon-platinum-8480c-amx-")
    assert cpu_kind({**EPYC, "versions": {"torch": "9"}}) == cpu_kind(EPYC)  # versions are not
    assert kind_of({**EPYC, "kind": "recorded"}) == "recorded"


def test_the_baseline_of_the_candidates_own_kind_gates_everything(tmp_path: Path) -> None:
    _write(tmp_path, "m/0001_baseline-quick.json", _doc({}, fp=EPYC))
    _write(tmp_path, "m/0003_baseline-quick-avx_vnni.json", _doc({}, fp=EPYC_VNNI))
    ref = choose(tmp_path, "quick", EPYC_VNNI)
    assert ref.path.name == "0003_baseline-quick-avx_vnni.json" and ref.same_kind
    assert ref.record_to is None


def test_a_kind_never_seen_gates_what_does_not_depend_on_the_cpu(tmp_path: Path) -> None:
    _write(tmp_path, "m/0001_baseline-quick.json", _doc({}, fp=EPYC))
    ref = choose(tmp_path, "quick", XEON)
    assert not ref.same_kind and ref.path.name == "0001_baseline-quick.json"
    assert ref.record_to == local_path(tmp_path, "quick", cpu_kind(XEON))
    said = "\n".join(ref.lines)
    assert f"no baseline of this CPU kind ({cpu_kind(XEON)})" in ref.lines[0]
    assert "NOT gated: speed" in said and "0001_baseline-quick.json" in said


def test_the_first_run_of_a_kind_becomes_its_reference_and_grows(tmp_path: Path) -> None:
    _write(tmp_path, "m/0001_baseline-quick.json", _doc({}, fp=EPYC))
    first = _doc({"speedup": _speed(2.0, 0.02)}, fp=XEON, outcomes={CASE: "passed"})
    assert "recorded" in record(choose(tmp_path, "quick", XEON), first)
    ref = choose(tmp_path, "quick", XEON)
    assert ref.same_kind and ref.local and load(ref.path).rows().keys() == {CASE}
    second = _doc({}, fp=XEON, outcomes={CASE: "passed", "b::new": "passed", "b::bad": "failed"})
    second["benchmarks"] += [
        {**second["benchmarks"][0], "fullname": n} for n in ("b::new", "b::bad")
    ]
    assert record(ref, second).startswith("1 new cases added")
    assert list(load(ref.path).rows()) == [CASE, "b::new"]  # the failed case is not taken
    assert record(ref, second) is None  # nothing new


def test_bad_folders_and_other_profiles(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no committed \*_baseline-quick\*.json of profile"):
        choose(tmp_path, "quick", EPYC)
    full = _doc({}, fp=XEON)
    full["machine_info"]["profile"] = "full"
    _write(tmp_path, f"local/quick@{cpu_kind(XEON)}.json", full)
    with pytest.raises(InputError, match="not a local reference of profile 'quick'"):
        choose(tmp_path, "quick", XEON)
    with pytest.raises(InputError, match="no machine fingerprint"):
        choose(tmp_path, "quick", {})


def test_int8_answers_of_another_kind_are_a_kind_difference(tmp_path: Path) -> None:
    y = _labels()
    ref = _flip(y, y, 60)
    comp = _flip(ref, y, 5)
    old = from_doc(_doc(*_quality(y, ref, comp), fp=EPYC), tmp_path / "a")
    moved = _quality(y, ref, _flip(comp, y, 14))
    same_kind = compare(old, from_doc(_doc(*moved, fp=EPYC, when="2"), tmp_path / "b"))
    other = compare(old, from_doc(_doc(*moved, fp=XEON, when="2"), tmp_path / "b"))
    verdict = {r.metric: r.verdict for r in other if r.benchmark == CASE}
    assert {r.metric for r in same_kind if r.regression} == {"f1_compressed", "f1_drop_pts"}
    assert verdict["f1_compressed"].status is Status.KIND_DIFFERENCE
    assert str(verdict["f1_compressed"]).startswith("kind difference: REGRESSION")
    assert not any(r.regression for r in other)
    fp32_moved = _quality(y, _flip(ref, y, 3), _flip(comp, y, 14))  # the fp32 side moved too
    rows = compare(old, from_doc(_doc(*fp32_moved, fp=XEON, when="2"), tmp_path / "c"))
    assert any(r.regression and r.metric == "f1_compressed" for r in rows)


def test_speed_is_gated_within_one_kind_only(tmp_path: Path) -> None:
    old = from_doc(_doc({"speedup": _speed(2.0, 0.02)}, fp=EPYC), tmp_path / "a")
    slow = {"speedup": _speed(1.7, 0.02)}
    [same] = [r for r in compare(old, from_doc(_doc(slow, when="2", fp=EPYC), "b"))
              if r.metric == "speedup" and r.benchmark == CASE]  # fmt: skip
    [other] = [r for r in compare(old, from_doc(_doc(slow, when="2", fp=EPYC_VNNI), "b"))
               if r.metric == "speedup" and r.benchmark == CASE]  # fmt: skip
    assert same.regression and not other.regression
    assert other.status is Status.NOT_COMPARABLE
    assert other.verdict.reason.startswith("CPU kind amd-epyc")


def test_a_regression_the_retest_could_not_measure_stands(tmp_path: Path) -> None:
    base = from_doc(_doc({"speedup": _speed(2.0, 0.02)}, fp=EPYC), tmp_path / "a")
    slow = from_doc(_doc({"speedup": _speed(1.7, 0.02)}, fp=EPYC, when="2"), tmp_path / "b")
    rows = compare(base, slow)
    why = "the retest saved no result (exit 4: ERROR: file or directory not found: False)"
    [row] = [r for r in confirm(rows, base, why, Options()) if r.benchmark == CASE]
    assert row.regression and row.verdict == Verdict(Status.REGRESSION, f"not re-measured: {why}")
    [row] = [r for r in confirm(rows, base, slow, Options()) if r.benchmark == CASE]
    assert row.regression and row.status is Status.REGRESSION
    assert str(row.verdict).startswith("REGRESSION (retest ")  # what tools/gate_oc.py finds
    [row] = [r for r in confirm(rows, base, base, Options()) if r.benchmark == CASE]
    assert not row.regression and row.status is Status.INCONCLUSIVE
    assert row.verdict.reason.startswith("a retest did not confirm it (ok ")


def test_a_result_without_a_fingerprint_is_refused(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path, "a.json", _doc({}, fp=EPYC))
    bare = _doc({}, when="2")
    del bare["machine_info"]["fingerprint"]
    b = _write(tmp_path, "b.json", bare)
    assert main([str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b.json" in err[0] and "no machine fingerprint" in err[0]


SAMPLES = {  # a value other than the default for every setting
    "profile": "full", "glue_dir": "/g", "wikitext2_dir": "/w", "sogou_dir": "/s",
    "boolq_dir": "/b", "task": "rotten-tomatoes", "model": "bert-base-uncased",
    "suite": "my.toml", "chinese_model": "auto", "fine_prune": "taylor,movement",
    "kd_grid": "full", "f1_budget": 0.5, "strict_quality": True, "min_speedup": 1.2,
    "inject": "hook:12", "require_kind_baseline": True,
}  # fmt: skip


def _root_conftest():
    spec = importlib.util.spec_from_file_location("_root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(args: list[str], env: dict[str, str]) -> Settings:
    """What another pytest process makes of ``args`` and ``env``: conftest's real options."""
    parser = Parser(_ispytest=True)
    _root_conftest().pytest_addoption(parser)
    namespace = parser.parse(args)
    options = {f.name: getattr(namespace, f.name, None) for f in fields(Settings)}
    return Settings.from_sources(options, env)


@pytest.mark.parametrize("field", sorted(SAMPLES))
def test_the_retest_gets_every_setting_back(field: str) -> None:
    """Each setting alone, set and at its default, survives the trip to the retest, whatever
    the inherited environment says (a boolean once became the path 'False')."""
    assert set(SAMPLES) == {f.name for f in fields(Settings)}  # a new setting needs a sample
    inherited = {"COMPRESS_BENCH_STRICT_QUALITY": "1", "COMPRESS_BENCH_PROFILE": "full",
                 "GLUE_DIR": "/elsewhere", "COMPRESS_BENCH_REQUIRE_KIND_BASELINE": "1"}  # fmt: skip
    for settings in (Settings(**{field: SAMPLES[field]}), Settings()):
        args, env = settings.to_args(inherited)
        assert "False" not in args and "True" not in args
        assert _parse(args, env) == settings
    everything = Settings(**SAMPLES)
    assert _parse(*everything.to_args({})) == everything


def test_a_case_that_regressed_in_other_figures_is_not_said_to_be_retested(tmp_path) -> None:
    size = {"unit": "bytes", "direction": "lower", "tolerance": 0.001, "relative": True}
    base = from_doc(
        _doc({"speedup": _speed(2.0, 0.02), "size_bytes": Metric(90e6, **size)}, fp=EPYC), "a"
    )
    worse = {"speedup": _speed(1.7, 0.02), "size_bytes": Metric(95e6, **size)}
    slow = from_doc(_doc(worse, fp=EPYC, when="2"), tmp_path / "b")
    rows = confirm(compare(base, slow), base, slow, Options())
    status = {r.metric: str(r.verdict) for r in rows if r.benchmark == CASE}
    assert (
        status["speedup"] == "REGRESSION (not re-measured: the case regressed in other figures too)"
    )
    assert status["size_bytes"] == "REGRESSION"
