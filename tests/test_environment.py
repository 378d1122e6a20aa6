"""compress.core.environment: the one module that reads the environment, every variable declared
there once; the library, fixtures, benchmarks and conftest read none themselves."""

from __future__ import annotations

import ast
import configparser
import fnmatch
from collections.abc import Iterator
from pathlib import Path

import pytest

from compress.core import environment
from compress.measure.fingerprint import ISA_CAP_VARS, isa_caps
from fixtures.plugins.settings import SETTINGS, Settings
from fixtures.recipes import profiles
from fixtures.store.cache import cache_dir
from fixtures.store.sources import OFFLINE_VARS, offline, offline_vars

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("compress", "fixtures", "benchmarks", "conftest.py")
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
# (file, text of the line) -> why it may touch the environment; each entry must still match
ALLOWED: dict[tuple[str, str], str] = {
    ("compress/core/environment.py", "return os.environ if environ is None else environ"):
        "the settings layer itself: its one read",
    ("fixtures/plugins/gate.py",
     'env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}'):
        "a copy for the retest's child process, passed on, not read (its settings travel "
        "explicitly through Settings.to_args)",
}  # fmt: skip


def _files(root: Path) -> Iterator[Path]:
    for name in SCANNED:
        path = root / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []


def environment_reads(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each use of the process environment in ``path``: ``os.environ``,
    ``os.getenv`` and kin, under any alias of ``os``, or imported from it."""
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    aliases = {"os"} | {
        a.asname for n in ast.walk(tree) if isinstance(n, ast.Import)
        for a in n.names if a.name == "os" and a.asname
    }  # fmt: skip
    lines = source.splitlines()
    found = set()
    for node in ast.walk(tree):
        hit = (
            isinstance(node, ast.Attribute) and node.attr in ENV_NAMES
            and isinstance(node.value, ast.Name) and node.value.id in aliases
        ) or (
            isinstance(node, ast.ImportFrom) and node.module == "os"
            and any(a.name in ENV_NAMES for a in node.names)
        )  # fmt: skip
        if hit:
            found.add((node.lineno, lines[node.lineno - 1].strip()))
    return sorted(found)


def test_only_the_settings_layer_reads_the_environment() -> None:
    reads = {
        (path.relative_to(ROOT).as_posix(), line, text)
        for path in _files(ROOT) for line, text in environment_reads(path)
    }  # fmt: skip
    unexplained = sorted(f"{f}:{n}: {t}" for f, n, t in reads if (f, t) not in ALLOWED)
    assert unexplained == [], (
        "read the environment through compress.core.environment (declare the variable in its "
        "VARIABLES) or take the value as a parameter:\n" + "\n".join(unexplained)
    )
    stale = sorted(k for k in ALLOWED if k not in {(f, t) for f, _, t in reads})
    assert stale == [], f"allowed reads that are gone: remove them from ALLOWED: {stale}"


def test_the_scan_sees_every_spelling(tmp_path: Path) -> None:
    source = (
        "import os\nimport os as o\nfrom os import getenv\n"
        "a = os.environ['X']\nb = o.getenv('Y')\nc = os.environ.get('Z')\nd = os.cpu_count()\n"
    )
    (tmp_path / "m.py").write_text(source)
    assert [n for n, _ in environment_reads(tmp_path / "m.py")] == [3, 4, 5, 6]


def test_every_variable_read_is_declared() -> None:
    names = set(environment.DECLARED)
    assert len(names) == len(environment.VARIABLES)  # declared once
    assert set(ISA_CAP_VARS) | set(OFFLINE_VARS) <= names
    assert {s.variable for s in SETTINGS if s.variable} <= names
    assert environment.declared(profiles.ENV_VAR).default == profiles.DEFAULT  # get_profile's
    with pytest.raises(KeyError, match="not declared"):
        environment.read("COMPRESS_BENCH_NO_SUCH")


def test_values_parse_and_render_back() -> None:
    env = {"COMPRESS_BENCH_STRICT_QUALITY": "Yes", "GLUE_DIR": "", "HF_HUB_OFFLINE": "on"}
    assert environment.read("COMPRESS_BENCH_STRICT_QUALITY", env) is True
    assert environment.read("GLUE_DIR", env) is None  # empty counts as unset
    assert environment.read("COMPRESS_BENCH_PROFILE", env) == "quick"  # the default
    assert environment.read("HF_HUB_OFFLINE", env) is True
    assert environment.read("HF_DATASETS_OFFLINE", {"HF_DATASETS_OFFLINE": "maybe"}) is False
    with pytest.raises(ValueError, match="COMPRESS_BENCH_STRICT_QUALITY must be 1 or 0"):
        environment.read("COMPRESS_BENCH_STRICT_QUALITY", {"COMPRESS_BENCH_STRICT_QUALITY": "x"})
    for variable in environment.VARIABLES:
        value = True if variable.parse in (environment.flag, environment.switch) else "v"
        text = environment.render(variable.name, value)
        assert environment.read(variable.name, {variable.name: text}) == value
    assert environment.render("COMPRESS_BENCH_STRICT_QUALITY", False) == "0"  # never 'False'


def test_library_and_fixtures_take_a_mapping() -> None:
    assert isa_caps({"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": ""}) == {
        "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2"
    }
    assert offline_vars({"COMPRESS_BENCH_OFFLINE": "1", "HF_HUB_OFFLINE": "0"}) == [
        "COMPRESS_BENCH_OFFLINE"
    ]
    assert not offline({})
    assert cache_dir({"COMPRESS_BENCH_CACHE": "/c"}) == Path("/c")
    assert cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/compress-bench")
    settings = Settings.from_sources({}, {"COMPRESS_BENCH_REQUIRE_KIND_BASELINE": "1"})
    assert settings.require_kind_baseline is True


def test_a_child_inherits_a_copy() -> None:
    env = {"PYTEST_XDIST_WORKER": "gw0", "PATH": "/bin"}
    child = environment.inherited({"PYTHONPATH": "/r"}, drop_prefixes=("PYTEST_",), environ=env)
    assert child == {"PATH": "/bin", "PYTHONPATH": "/r"}
    assert environment.user_variable("MY_DIR", {"MY_DIR": ""}) == ""  # as the user set it


def test_every_variable_is_documented_and_passed_by_tox() -> None:
    rows = [line for line in (ROOT / "docs" / "options.md").read_text().splitlines()
            if line.startswith("|")]  # fmt: skip
    undocumented = [v.name for v in environment.VARIABLES
                    if not any(f"`{v.name}`" in row for row in rows)]  # fmt: skip
    assert undocumented == [], f"docs/options.md's table lacks {undocumented}"
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    passed = tox["testenv"]["pass_env"].split()
    blocked = [v.name for v in environment.VARIABLES
               if not any(fnmatch.fnmatchcase(v.name, p) for p in passed)]  # fmt: skip
    assert blocked == [], f"tox.ini's pass_env lacks {blocked}"
