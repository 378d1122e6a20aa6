"""The method registry: one declaration per method, one spelling everywhere, docs generated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from compress.methods.build import Context, build
from compress.methods.registry import METHODS, REGISTRY, Claim, UnknownMethod, get, select
from compress.methods.table import markdown

ROOT = Path(__file__).resolve().parents[1]
# a quoted or backticked word that reads as a method name
SPELLED = re.compile(r"[\"'`]((?:torch|ort|torchao|compiled|pt2e|fine-pruned)-[a-z0-9-]+)[\"'`]")
# where methods are named: benchmarks, suite files, fixtures (search spaces, profiles), docs
PLACES = ("benchmarks/**/*.py", "benchmarks/suites/*.toml", "fixtures/**/*.py", "docs/*.md",
          "README.md")  # fmt: skip
NOT_METHODS = {"ort-lm"}  # a temporary directory's name


def test_names_are_unique_and_configs_build() -> None:
    assert len(REGISTRY) == len(METHODS)
    for method in METHODS:
        config = method.config()
        assert config == method.config(), f"{method.name}: its config is not a value"
        assert hasattr(config, "to_dict"), f"{method.name}: {type(config).__name__} has no to_dict"
        assert method.claim in Claim and method.about


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownMethod, match="torch-dynamic, torch-static-percentile"):
        get("torch-dynamik")


def test_select_filters_by_attribute() -> None:
    compiled = [m.name for m in select(family="inductor")]
    assert compiled[0] == "compiled-fp32" and all(n.startswith("compiled-") for n in compiled)
    assert all(m.compiled for m in select(family="inductor"))


def _named_in_tree() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for pattern in PLACES:
        for path in sorted(ROOT.glob(pattern)):
            example = False  # inside a ```diff block: a method being added, by example
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                example = line.startswith("```diff") or (example and not line.startswith("```"))
                if example or "CompileConfig(" in line:  # CompileConfig's field: no method
                    continue
                for name in SPELLED.findall(line):
                    found.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_every_method_named_in_the_tree_is_the_registrys() -> None:
    """A benchmark, suite file, search space, profile or doc that names a method the registry
    lacks, or spells one differently (``ort-dynamic`` for ``ort-dynamic-per-channel``)."""
    unknown = {n: w for n, w in _named_in_tree().items() if n not in set(REGISTRY) | NOT_METHODS}
    assert not unknown, f"not in compress.methods.registry: {unknown}"


def test_the_spelling_check_sees_a_misspelling(tmp_path: Path) -> None:
    assert SPELLED.findall('methods = ["ort-dynamic", `compiled-pt2e-static`]') == [
        "ort-dynamic",
        "compiled-pt2e-static",
    ]


def test_docs_table_is_generated_from_the_registry() -> None:
    text = (ROOT / "docs/methods.md").read_text(encoding="utf-8")
    marker = "<!-- generated: python -m compress.methods -->\n"
    start = text.index(marker) + len(marker)
    assert text[start : text.index("<!-- end generated -->")] == markdown(), (
        "docs/methods.md is stale: regenerate it with python -m compress.methods"
    )


def test_search_spaces_and_profiles_sample_from_the_registry() -> None:
    from fixtures.recipes.profiles import PROFILES
    from fixtures.search.mrpc import QUANT

    assert set(QUANT) - {"none"} == {m.name for m in select(search=True)}
    for profile in PROFILES.values():
        assert set(profile.compiled_methods or ()) <= set(REGISTRY)


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)).eval()


def test_build_checks_needs_before_building() -> None:
    context = Context(example={"x": torch.zeros(1, 8)})
    with pytest.raises(ValueError, match="torch-static-percentile needs calibration"):
        build(get("torch-static-percentile"), _tiny(), context)
    with pytest.raises(ValueError, match="torch-qat trains"):
        build(get("torch-qat"), _tiny(), context)


def test_build_leaves_fp32_untouched_and_records_its_config() -> None:
    fp32 = _tiny()
    before = [p.clone() for p in fp32.parameters()]
    built = build(get("torch-dynamic"), fp32, Context(example={}))
    assert built.config["method"] == "dynamic" and built.size_bytes > 0
    assert all(torch.equal(a, b) for a, b in zip(before, fp32.parameters(), strict=True))
    x = torch.randn(4, 8)
    assert (built.model(x).argmax(-1) == fp32(x).argmax(-1)).float().mean() >= 0.75


def test_trained_methods_use_the_callers_trainer() -> None:
    seen = []

    def train(config):
        seen.append(type(config).__name__)
        return _tiny(), {"trained": True}

    built = build(get("fine-pruned-int8"), _tiny(), Context(example={}, train=train))
    assert seen == ["StructuredPruneConfig"] and built.config == {"trained": True, "int8": True}


def test_needs_name_what_a_cpu_lacks() -> None:
    fp16 = get("fp16").needs
    assert "avx512_fp16, amx_fp16" in fp16.unmet(["avx2", "avx512f"], ["x86"])
    assert fp16.unmet(["avx2", "amx_fp16"], ["x86"]) is None
    assert "onednn" in get("torch-dynamic-onednn").needs.unmet([], ["x86", "fbgemm"])
    assert get("torch-dynamic").needs.unmet([], ["x86"]) is None  # "auto": any engine


def test_engine_rows_pack_for_their_engine_and_restore_it() -> None:
    before = torch.backends.quantized.engine
    for name in ("torch-dynamic-fbgemm", "torch-dynamic-onednn"):
        method = get(name)
        if method.needs.unmet([], torch.backends.quantized.supported_engines):
            continue
        built = build(method, _tiny(), Context(example={}))
        assert built.config["engine"] == method.needs.engine
        assert torch.backends.quantized.engine == before
