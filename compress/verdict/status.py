"""What a comparison says about one figure: a ``Status`` and the ``Verdict`` that carries its
reason, and the pseudo-metrics that name a row about a whole case rather than one figure.

The values are the words the comparison has always printed, so tables, pages and anything
that compares a status with a string keep reading them; code tests the enum, never the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    """The verdict on one compared row."""

    OK = "ok"
    IMPROVED = "improved"
    REGRESSION = "REGRESSION"
    INCONCLUSIVE = "inconclusive"  # beyond the tolerance, but the CI reaches no change
    NOT_COMPARABLE = "not comparable"
    MISSING = "missing"
    NEW = "new"
    INFO = "info"  # shown, never gated
    FAILED = "FAILED"  # the case failed or errored in the candidate run
    # an int8 quality move between two CPU kinds whose fp32 reference figures are identical:
    # the kinds' int8 kernels round differently (same model, same code); reported, never failed
    KIND_DIFFERENCE = "kind difference"

    def __str__(self) -> str:  # the word itself in f-strings on every Python (3.11 changed it)
        return self.value

    __format__ = str.__format__


JUDGED = frozenset({Status.OK, Status.IMPROVED, Status.REGRESSION, Status.INCONCLUSIVE})


@dataclass(frozen=True)
class Verdict:
    """A status and why (empty when the status says it all)."""

    status: Status
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))

    def __str__(self) -> str:
        """As printed: "not comparable: machines differ"; a regression's note in parentheses,
        "REGRESSION (retest -8.0% [...])", which tools/gate_oc.py looks for in the table."""
        if not self.reason:
            return self.status.value
        if self.status is Status.REGRESSION:
            return f"{self.status.value} ({self.reason})"
        return f"{self.status.value}: {self.reason}"


class Pseudo(str, Enum):
    """Row "metrics" that are not a figure: the row speaks for the whole case or the run."""

    BENCHMARK = "(benchmark)"  # a benchmark row of one file only (missing, failed, new)
    OUTCOME = "(outcome)"  # a test of the candidate run that failed or was skipped
    CASE = "(case)"  # a case whose two runs cannot be compared at all (another task)
    RESULT = "(result)"  # a typed result on one side only
    MACHINE = "(machine)"  # the "benchmark" of machine-wide rows (the int8 limit)
    KERNELS = "(kernels)"  # the GEMM operators a case ran (compress.measure.kernels)

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__
