"""Human labels for metric names, and which few columns head a benchmark's table.

A benchmark declares a metric by name and unit (compress.verdict.results); this registry gives each
name the short label a person reads (``process_peak_reference_bytes`` -> "peak RSS of the
process, reference"), keyed by the name the case records, with the display unit taken from
the metric's own unit (compress.report.compare_table.fmt shows seconds as ms and bytes as MiB). A
name the registry lacks falls back to rules on its suffix (``*_drop_pts``, ``*_s``, ...), then
to the name with spaces. Add a label here when a case records a new headline figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Exact names. Keep them short: they are column headers.
LABELS: dict[str, str] = {
    "speedup": "speedup",
    "speedup_baseline_s": "reference time",
    "speedup_candidate_s": "compressed time",
    "speedup_vs_eager": "speedup vs eager fp32",
    "speedup_search": "speedup (search)",
    "p99_speedup": "p99 speedup",
    "size_bytes": "checkpoint",
    "size_reference_bytes": "reference checkpoint",
    "size_expected_bytes": "expected checkpoint",
    "size_masked_bytes": "checkpoint with masks",
    "size_csr_bytes": "checkpoint as CSR",
    "size_bitmask_bytes": "checkpoint as bitmask",
    "size_ratio": "size ratio",
    "linear_bytes_ratio": "Linear weights ratio",
    "f1_drop_pts": "F1 drop",
    "f1_drop_pts_heldout": "F1 drop, held out",
    "f1_drop_pts_search": "F1 drop, search data",
    "f1_weighted_drop_pts": "weighted-F1 drop",
    "accuracy_drop_pts": "accuracy drop",
    "int8_drop_pts": "int8 drop vs fp32 student",
    "int8_drop_vs_teacher_pts": "int8 student's drop vs teacher",
    "gain_vs_ce_only_pts": "gain over CE only",
    "collapsed": "collapsed to one class",
    "agreement": "agreement with reference",
    "kl_mean": "mean KL to reference",
    "mean_abs_diff": "mean |output - reference|",
    "loss_delta": "loss change",
    "process_baseline_bytes": "process RSS before the model",
    "process_peak_bytes": "peak RSS of the process",
    "process_peak_reference_bytes": "peak RSS of the process, reference",
    "process_peak_ratio": "process peak ratio",
    "model_rss_bytes": "model RSS",
    "model_rss_reference_bytes": "model RSS, reference",
    "model_rss_ratio": "model RSS ratio",
    "state_bytes_ratio": "state-dict ratio",
    "throughput": "throughput",
    "throughput_reference": "throughput, reference",
    "threads": "threads",
    "rounds": "rounds",
    "sqnr_db": "SQNR",
    "sqnr_gain_db": "SQNR gain",
    "pow2_loss_db": "SQNR lost to power-of-two scales",
    "mse": "MSE",
    "max_abs_err": "largest error",
    "sparsity": "sparsity",
    "latency_ratio": "pruned / unpruned latency",
    "majority_class_accuracy": "majority-class accuracy",
    "params_ratio": "parameters ratio",
    "trials": "trials",
    "front_size": "front size",
}

# (suffix pattern, label template) tried in order when a name is not in LABELS
_RULES: tuple[tuple[str, str], ...] = (
    (r"^(.+)_drop_pts$", "{} drop"),
    (r"^(.+)_reference$", "{}, reference"),
    (r"^(.+)_compressed$", "{}, compressed"),
    (r"^(.+)_majority$", "{}, majority class"),
    (r"^(.+)_teacher$", "{}, teacher"),
    (r"^(.+)_seed(\d+)$", "{}, seed {}"),
    (r"^(.+)_mean$", "{}, mean"),
    (r"^(.+)_std$", "{}, s.d."),
    (r"^(.+)_needs_examples$", "examples needed to resolve {}"),
    (r"^(p\d\d)_(.+)_s$", "{} latency, {}"),
    (r"^(.+)_s$", "{} time"),
    (r"^(.+)_bytes$", "{} size"),
)

_WORDS = {"f1": "F1", "int8": "int8", "fp32": "fp32", "ppl": "perplexity", "kl": "KL",
          "mcc": "MCC", "pearson": "Pearson", "spearman": "Spearman"}  # fmt: skip

# unit -> what the header says the figure is in (fmt's display units: ms, MiB)
UNITS: dict[str, str] = {
    "s": "ms",
    "bytes": "MiB",
    "x": "×",
    "pts": "pts",
    "nats": "nats",
    "dB": "dB",
    "ex/s": "examples/s",
}

# Headline figures, most telling first: the quality a compression costs, the speed and size
# it buys; a table shows the first HEADLINE_COLUMNS of these that its cases record.
HEADLINE: tuple[str, ...] = (
    "f1_drop_pts",
    "f1_weighted_drop_pts",
    "f1_drop_pts_heldout",
    "mcc_drop_pts",  # a declared model's metric (docs/suite.md)
    "pearson_drop_pts",
    "spearman_drop_pts",
    "int8_drop_vs_teacher_pts",
    "accuracy_drop_pts",
    "loss_delta",
    "int8_drop_pts",
    "speedup",
    "p99_speedup",
    "sparsity",
    "size_bytes",
    "size_ratio",
    "process_peak_ratio",
    "model_rss_ratio",
    "throughput",
    "sqnr_db",
    "mse",
    "accuracy_mean",
    "f1_mean",
)
HEADLINE_COLUMNS = 4


def _words(stem: str) -> str:
    return " ".join(_WORDS.get(w, w) for w in stem.split("_"))


def label(name: str) -> str:
    """The short human label of metric ``name`` (without its unit)."""
    if name in LABELS:
        return LABELS[name]
    for pattern, template in _RULES:
        m = re.match(pattern, name)
        if m:
            return template.format(*(label(g) if i == 0 else g for i, g in enumerate(m.groups())))
    return _words(name)


def header(name: str, unit: str) -> str:
    """Column header: the label and its display unit, "F1 drop (pts)"."""
    shown = UNITS.get(unit)
    return f"{label(name)} ({shown})" if shown else label(name)


def headline(names: Iterable[str], limit: int = HEADLINE_COLUMNS) -> list[str]:
    """The headline metrics among ``names`` (HEADLINE order, at most ``limit``); when none is
    a headline figure, the first ``limit`` names in their own order."""
    present = set(names)
    picked = [n for n in HEADLINE if n in present][:limit]
    return picked or list(dict.fromkeys(names))[:limit]
