"""Every environment variable the project reads, declared once (name, default, meaning, parse),
and the one module that reads them.

The library and the fixtures take values (parameters, the run's ``Settings``); where a value
was not passed, the default comes from here, never from ``os.environ`` directly
(tests/test_environment.py fails on any other read). Variables that belong to other tools
(the C++ compiler, XDG, the Hugging Face libraries, the kernel-ISA caps) are declared here
too: the project reads them to agree with the tool that acts on them. docs/options.md shows
the table; tox.ini passes each one through (tests keep both in step).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROJECT = "compress-bench"
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


def flag(text: str) -> bool:
    """A strict boolean: 1/true/yes or 0/false/no (any case); anything else is a mistake."""
    word = text.strip().lower()
    if word not in _TRUE + _FALSE:
        raise ValueError(f"must be 1 or 0, got {text!r}")
    return word in _TRUE


def switch(text: str) -> bool:
    """The Hugging Face libraries' reading of their offline switches: 1/true/yes/on is on,
    anything else off (never an error: the hub libraries would not refuse it either)."""
    return text.strip().lower() in (*_TRUE, "on")


@dataclass(frozen=True)
class Variable:
    """One environment variable: its value when unset or empty, what it means, how it parses."""

    name: str
    default: Any
    about: str
    parse: Callable[[str], Any] = str
    tool: str = PROJECT  # whose variable it is: this project's, or the tool that defines it


def _isa_cap(name: str, library: str, what: str) -> Variable:
    about = f"caps the kernel ISA of {what} (the fingerprint records it as isa_caps)"
    return Variable(name, None, about, str, library)


VARIABLES: tuple[Variable, ...] = (
    Variable("COMPRESS_BENCH_PROFILE", "quick", "training budgets"),
    Variable("GLUE_DIR", None, "MRPC train.tsv / dev.tsv"),
    Variable("WIKITEXT2_DIR", None, "WikiText-2 valid.txt / test.txt"),
    Variable("SOGOU_DIR", None, "Sogou news test.csv"),
    Variable("BOOLQ_DIR", None, "BoolQ train.jsonl / dev.jsonl"),
    Variable("COMPRESS_BENCH_TASK", "mrpc", "task of the pruning cases"),
    Variable("COMPRESS_BENCH_MODEL", "minilm-l6", "model of the MRPC cases"),
    Variable(
        "COMPRESS_BENCH_SUITE",
        None,
        "a suite file (TOML) declaring your own models: run their cases only (docs/suite.md)",
    ),
    Variable(
        "COMPRESS_BENCH_CHINESE_MODEL",
        "char-bert",
        "model of the Chinese sweep (char-bert, auto, or a checkpoint)",
    ),
    Variable(
        "COMPRESS_BENCH_FINE_PRUNE",
        "taylor",
        "fine-pruning recipes, comma-separated (taylor, movement)",
    ),
    Variable("COMPRESS_BENCH_KD_GRID", "ci", "distillation grid (ci, full)"),
    Variable(
        "COMPRESS_BENCH_STRICT_QUALITY",
        False,
        "an undecided (inconclusive) quality gate fails the case",
        flag,
    ),
    Variable(
        "COMPRESS_BENCH_REQUIRE_KIND_BASELINE",
        False,
        "--benchmark-compare fails when no baseline of this CPU kind exists (a runner that "
        "must gate speed)",
        flag,
    ),
    Variable(
        "COMPRESS_BENCH_CACHE",
        None,
        "where models, data and ledgers are cached (unset: $XDG_CACHE_HOME/compress-bench)",
    ),
    Variable("COMPRESS_BENCH_OFFLINE", False, "never try a hub", switch),
    Variable("HF_HUB_OFFLINE", False, "never try the hub", switch, "huggingface_hub"),
    Variable("HF_DATASETS_OFFLINE", False, "never try the hub for data", switch, "datasets"),
    Variable("XDG_CACHE_HOME", None, "the user's cache directory (unset: ~/.cache)", str, "XDG"),
    Variable(
        "CXX",
        None,
        "the C++ compiler torch.compile's Inductor uses (unset: the first of g++, c++, clang++)",
        str,
        "Inductor",
    ),
    _isa_cap("FBGEMM_ENABLE_INSTRUCTIONS", "FBGEMM", "the int8 GEMMs"),
    _isa_cap("ATEN_CPU_CAPABILITY", "ATen", "ATen's vectorized fp32 kernels"),
    _isa_cap("ONEDNN_MAX_CPU_ISA", "oneDNN", "oneDNN"),
    _isa_cap("MKL_ENABLE_INSTRUCTIONS", "MKL", "the fp32 GEMMs (training)"),
)
DECLARED: dict[str, Variable] = {v.name: v for v in VARIABLES}


def declared(name: str) -> Variable:
    """The declaration of ``name``; KeyError when the project never declared it."""
    try:
        return DECLARED[name]
    except KeyError:
        raise KeyError(f"{name} is not declared in compress.core.environment.VARIABLES") from None


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    # the one read of the process environment; every other reader passes a mapping or None
    return os.environ if environ is None else environ


def text(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The text of declared variable ``name`` in ``environ`` (default: this process's
    environment); None when unset or empty (an empty variable counts as unset)."""
    declared(name)
    return _environ(environ).get(name) or None


def parse(name: str, value: str) -> Any:
    """``value`` parsed as variable ``name``; a ValueError names the variable."""
    try:
        return declared(name).parse(value)
    except ValueError as err:
        raise ValueError(f"{name} {err}") from None


def read(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """Variable ``name`` parsed, or its declared default when unset or empty."""
    value = text(name, environ)
    return declared(name).default if value is None else parse(name, value)


def render(name: str, value: Any) -> str:
    """The text that ``read`` turns back into ``value`` (a boolean is 1 or 0, never 'False')."""
    if declared(name).parse in (flag, switch):
        return "1" if value else "0"
    return str(value)


def user_variable(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A variable a user named in an input file (a suite file's ``${NAME}``): any name, the
    text as set (empty included), None when unset. Not declared: the user chose it."""
    return _environ(environ).get(name)


def inherited(
    extra: Mapping[str, str] | None = None,
    *,
    drop_prefixes: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A child process's environment: a copy of this one (passed on, not read), without the
    variables starting with ``drop_prefixes``, with ``extra`` set."""
    kept = {k: v for k, v in _environ(environ).items() if not k.startswith(drop_prefixes)}
    return {**kept, **(extra or {})}
