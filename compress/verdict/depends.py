"""What a figure depends on, declared per metric: which two runs may be compared on it.

A metric's ``depends_on`` (compress.verdict.results.Metric) is a set of ``Facet``s; compare
(compress.compare) judges a figure between two runs only where they agree on every facet it
depends on, and shows it as "not comparable" otherwise. The unit of a figure is for display
only and decides nothing: a throughput in examples/s depends on the CPU kind as a speedup
does, whatever its unit.

Where a benchmark does not declare it (``Case.report(name, value, unit)``, and every file
saved before the declaration existed), ``depends_on(name)`` reads it from ``TABLE`` by the
metric's name, first match winning; a name it does not know depends on the evaluation data
only (compared across CPUs).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from fnmatch import fnmatchcase


class Facet(str, Enum):
    """One thing two runs must share for a figure of theirs to be compared."""

    MACHINE = "machine"  # the same machine (timing fingerprint): absolute times
    KIND = "kind"  # one CPU kind, model and ISA flags (implies one ISA class): speed
    # one CPU, model and the flags it has before any cap (ONEDNN_MAX_CPU_ISA, ...): which
    # kernels it could dispatch, so a capped run is judged against the uncapped one
    CPU = "cpu"
    ISA = "isa"  # one int8 ISA class (compress.measure.fingerprint.isa_class)
    DATA = "data"  # the same evaluation data (split and size): scores
    # the compressed model's answers: another CPU kind's int8 kernels may round them otherwise,
    # so between kinds a move with the case's fp32 reference figures identical is a kind
    # difference, never a regression (compress.compare.judge.kind_differences)
    ANSWERS = "answers"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


DependsOn = frozenset[Facet]

NOTHING: DependsOn = frozenset()  # code and model only: sizes, counts, weight statistics
SPEED: DependsOn = frozenset({Facet.KIND})
TIME: DependsOn = frozenset({Facet.MACHINE})
SCORE: DependsOn = frozenset({Facet.DATA})  # a figure of the evaluation data
ANSWER: DependsOn = frozenset({Facet.DATA, Facet.ANSWERS})
DEFAULT = SCORE  # an unknown name: compared across CPUs, on the same data only

# (name pattern, depends_on), first match wins; patterns cover the names a case builds
# (f"{name}_baseline_s", f"{base}_{arm}", f"{name}_needs_examples")
TABLE: tuple[tuple[str, DependsOn], ...] = (
    ("*_needs_examples", SCORE),  # evaluation size that would decide a quality budget
    ("*_s", TIME),  # seconds on this machine: speedup_baseline_s, train_s, p50_compressed_s
    ("*_s_per_sample", TIME),
    ("speedup*", SPEED),  # paired time ratios on one CPU: speedup, speedup_vs_eager
    ("*_speedup", SPEED),  # p99_speedup
    ("latency_ratio", SPEED),
    ("throughput*", SPEED),  # examples/s: this CPU's speed, as a speedup is
    ("*_bytes", NOTHING),  # checkpoint, resident and peak sizes
    ("*_ratio", NOTHING),  # size_ratio, params_ratio, process_peak_ratio
    ("params*", NOTHING),
    ("heads_kept", NOTHING),
    ("ffn_kept", NOTHING),
    ("zeros", NOTHING),
    ("sparsity", NOTHING),  # a fraction of the weights
    ("target_weights", NOTHING),
    ("threads", NOTHING),
    ("rounds", NOTHING),
    ("trials", NOTHING),
    ("front_size", NOTHING),
    ("distinct_configurations", NOTHING),
    ("*_majority", SCORE),  # the constant predictor's score: labels, not answers
    ("majority_*", SCORE),
    ("collapsed", SCORE),
    ("f1*", ANSWER),  # scores, drops and fidelity of the compressed model's answers
    ("accuracy*", ANSWER),
    ("*_pts", ANSWER),
    ("agreement", ANSWER),
    ("kl_mean", ANSWER),
    ("mean_abs_diff", ANSWER),  # a regression head's kl_mean (compress.verdict.closeness)
    ("mcc*", ANSWER),
    ("pearson*", ANSWER),
    ("spearman*", ANSWER),
    ("loss*", ANSWER),
    ("ppl*", ANSWER),
)


def depends_on(name: str) -> DependsOn:
    """What the metric called ``name`` depends on, by TABLE (DEFAULT for a name it lacks)."""
    return next((facets for pattern, facets in TABLE if fnmatchcase(name, pattern)), DEFAULT)


def facets(values: Iterable[str]) -> DependsOn:
    """``values`` as facets; ValueError names one that is not a Facet."""
    out = set()
    for value in values:
        try:
            out.add(Facet(value))
        except ValueError:
            known = ", ".join(f.value for f in Facet)
            raise ValueError(f"depends_on: unknown facet {value!r} (one of {known})") from None
    return frozenset(out)
