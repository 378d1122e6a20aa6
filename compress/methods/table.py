"""The registry as a Markdown table: docs/methods.md is this output (a unit test keeps them
equal). ``python -m compress.methods`` prints it."""

from __future__ import annotations

from compress.methods.registry import METHODS, Method

HEADER = ("method", "family", "GEMM precision", "kernels checked", "claim", "needs", "in",
          "what it is")  # fmt: skip


def _needs(method: Method) -> str:
    needs = method.needs
    flags = " or ".join(needs.cpu_flags)
    named = [*needs.files(), "C++ compiler" if needs.compiler else "", flags]
    if needs.engine:
        named.append(f"engine {needs.engine}")
    return ", ".join(n for n in named if n) or "—"


def _where(method: Method) -> str:
    return ", ".join(w for w, on in (("suite default", method.default),
                                      ("search", method.search)) if on) or "—"  # fmt: skip


def _checked(method: Method) -> str:
    """What the case's kernel record must show (compress.measure.kernels)."""
    if method.family == "onnxruntime":
        return "— (not visible to the profiler)"
    share = "recorded" if method.min_gemm_share is None else f"≥ {method.min_gemm_share:.0%}"
    return share + (", compiled" if method.compiled else "")


def markdown() -> str:
    """One row per method, in the registry's order."""
    rows = [HEADER, tuple("---" for _ in HEADER)]
    for m in METHODS:
        claim = "speed" if m.claim.value == "speed" else "record (kept to compare)"
        rows.append((f"`{m.name}`", m.family, m.precision.value, _checked(m), claim, _needs(m),
                     _where(m), m.about))  # fmt: skip
    return "\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n"
