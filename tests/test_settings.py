"""fixtures.plugins.settings: one place resolves options, variables, defaults; docs list them."""

from __future__ import annotations

from pathlib import Path

import pytest

from compress.core import environment
from fixtures.plugins.settings import SETTINGS, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "options.md"


def test_option_beats_variable_beats_default() -> None:
    env = {"COMPRESS_BENCH_TASK": "boolq", "GLUE_DIR": "/data/glue", "COMPRESS_BENCH_KD_GRID": ""}
    settings = Settings.from_sources({"task": "rotten-tomatoes", "glue_dir": None}, env)
    assert settings.task == "rotten-tomatoes"  # the option
    assert settings.glue_dir == "/data/glue"  # the variable
    assert settings.kd_grid == "ci" and settings.profile == "quick"  # the defaults
    assert settings.fine_prune_recipes == ("taylor",)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("profile", "fast", "profile must be one of"),
        ("task", "sst2", "task must be one of"),
        ("kd_grid", "huge", "kd_grid must be"),
        ("fine_prune", ",", "FINE_PRUNE"),
        ("fine_prune", "magic", "FINE_PRUNE"),
        ("f1_budget", 0.0, "must be > 0"),
    ],
)
def test_bad_values_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_every_setting_has_a_field_and_a_row_in_the_docs() -> None:
    text = DOCS.read_text()
    assert {s.field for s in SETTINGS} == set(Settings.__dataclass_fields__)
    for s in SETTINGS:
        for name in (s.option, s.variable):
            assert name is None or f"`{name}`" in text, f"docs/options.md lacks {name}"


def test_a_variable_setting_takes_its_default_and_meaning_from_the_environment_layer() -> None:
    defaults = Settings()
    for s in SETTINGS:
        assert getattr(defaults, s.field) == s.default, s.field
        if s.variable:
            declared = environment.declared(s.variable)
            assert (s.default, s.about) == (declared.default, declared.about)


def test_a_bad_variable_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="COMPRESS_BENCH_REQUIRE_KIND_BASELINE must be 1 or 0"):
        Settings.from_sources({}, {"COMPRESS_BENCH_REQUIRE_KIND_BASELINE": "False!"})


def test_the_retest_inherits_no_setting_from_the_environment() -> None:
    """Every variable a setting reads is set (as text that reads back) or removed in the
    retest's environment: none passes through from the parent unseen."""
    inherited = {s.variable: "inherited" for s in SETTINGS if s.variable} | {"PATH": "/bin"}
    for settings in (Settings(), Settings(kd_grid="full", boolq_dir="/b", strict_quality=True)):
        args, env = settings.to_args(inherited)
        assert env["PATH"] == "/bin"
        assert "inherited" not in env.values()
        assert "False" not in args + list(env.values())
        assert Settings.from_sources({}, env).kd_grid == settings.kd_grid


def test_a_profile_leaves_out_benchmarks_that_exist_and_deselects_them() -> None:
    """Each name a profile leaves out is a benchmark function (a rename must not silently run
    it again), and a quick run's collection deselects it (full leaves out nothing)."""
    import subprocess
    import sys

    from fixtures.recipes.profiles import PROFILES

    root = Path(__file__).resolve().parents[1]
    source = "".join(p.read_text() for p in (root / "benchmarks").glob("test_*.py"))
    left = {name for p in PROFILES.values() for name in p.left_out}
    assert left and all(f"def {name}(" in source for name in left), left
    assert PROFILES["full"].left_out == ()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/test_compiled.py", "--collect-only", "-q",
         "-p", "no:cacheprovider", "--profile", "quick"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "test_compiled[" in out.stdout and "test_compiled_peak_memory" not in out.stdout
    assert "1 deselected" in out.stdout, out.stdout[-500:]
