"""What every technique config shares: rebuilding it from the dict its ``to_dict`` wrote."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def _frozen(value: Any) -> Any:
    """JSON lists back to the tuples the frozen configs hold (nested lists too)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def config_from_dict(cls: type[T], data: Mapping[str, Any], derived: tuple[str, ...] = ()) -> T:
    """``cls`` rebuilt from ``data`` and validated by its constructor. Keys in ``derived`` are
    facts ``to_dict`` adds (a method name, a library version) and are skipped; any other key
    that is not a field is an error naming it, so a typo never silently becomes a default."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names - set(derived))
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown key(s) {unknown}; expected some of {sorted(names)}"
        )
    return cls(**{k: _frozen(v) for k, v in data.items() if k in names})
