"""fixtures.plugins.settings: one place resolves options, variables, defaults; docs list them."""

from __future__ import annotations

from pathlib import Path

import pytest

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
