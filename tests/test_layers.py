"""The layers (tools/layers.py, docs/architecture.md): no import cycle, no import up a layer,
no module outside a layer package; and the checker sees both when they are there."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tools.layers import LAYERS, breaches, cycles, graph, longest_chain, modules, package_of

ROOT = Path(__file__).resolve().parents[1]


def test_the_tree_has_no_cycle_and_no_upward_import() -> None:
    edges = graph()
    assert cycles(edges) == []
    assert breaches(edges) == []


def test_every_module_is_in_a_layer_package() -> None:
    outside = [
        m for m in modules() if package_of(m) not in LAYERS and m not in ("compress", "fixtures")
    ]
    assert outside == []


def test_each_layer_package_exports_its_modules_lazily() -> None:
    import compress.quantize
    import compress.verdict

    assert "quantize_dynamic" in compress.quantize.__all__
    assert compress.quantize.quantize_dynamic.__module__ == "compress.quantize.dynamic"
    assert compress.verdict.Case.__module__ == "compress.verdict.case"
    with pytest.raises(AttributeError):
        compress.quantize.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_every_exported_name_resolves(package: str) -> None:
    """A name a package's lazy ``__all__`` lists is there (a renamed function left its old
    name behind: fixtures.recipes.num_labels, compress.report.kind)."""
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "cycle", "breach"),
    [
        pytest.param(  # a deferred (function-level) import still closes a cycle
            {"compress/report/a.py": "import compress.report.b\n",
             "compress/report/b.py": "def f():\n    from compress.report import a\n"},
            ["compress.report.a", "compress.report.b"], None, id="cycle-in-a-function",
        ),
        pytest.param(
            {"compress/quantize/q.py": "from compress.verdict.case import Case\n",
             "compress/verdict/case.py": "class Case: ...\n"},
            None, "compress.quantize.q -> compress.verdict.case", id="technique-imports-verdict",
        ),
        pytest.param(
            {"compress/core/e.py": "import fixtures.store.cache\n",
             "fixtures/store/cache.py": ""},
            None, "compress never imports fixtures", id="library-imports-fixtures",
        ),
        pytest.param(
            {"fixtures/data/glue.py": "from fixtures.plugins.settings import S\n",
             "fixtures/plugins/settings.py": "S = 1\n"},
            None, "fixtures.data (layer 11) imports fixtures.plugins (15)",
            id="data-imports-plugin",
        ),
    ],
)  # fmt: skip
def test_the_checker_sees_a_cycle_and_an_upward_import(
    tmp_path: Path, files: dict[str, str], cycle: list[str] | None, breach: str | None
) -> None:
    edges = graph(_tree(tmp_path, files))
    assert cycles(edges) == ([cycle] if cycle else [])
    found = breaches(edges)
    assert (breach is None and found == []) or any(breach in b for b in found), found


def test_a_downward_import_is_allowed_and_chains_are_counted(tmp_path: Path) -> None:
    files = {
        "compress/verdict/case.py": "from compress.measure.meters import t\n",
        "compress/measure/meters.py": "from compress.core.stats import s\nt = 1\n",
        "compress/core/stats.py": "s = 1\n",
    }
    edges = graph(_tree(tmp_path, files))
    assert breaches(edges) == [] and cycles(edges) == []
    assert longest_chain(edges) == [
        "compress.verdict.case",
        "compress.measure.meters",
        "compress.core.stats",
    ]
