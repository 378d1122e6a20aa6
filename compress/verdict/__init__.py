"""Layer 3: typed results and their file, what each figure depends on, the case a benchmark
fills, paired changes and their verdicts, in-run gates, the runner, and the machine's int8 limit.

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "case",
        "change",
        "closeness",
        "depends",
        "gates",
        "machine",
        "quality",
        "resultfile",
        "results",
        "runner",
        "status",
    ],
    submod_attrs={
        "case": ["Case"],
        "closeness": ["Closeness", "closeness", "record_closeness"],
        "change": [
            "NotComparable",
            "Change",
            "speed_change",
            "quality_change",
            "change_of",
            "judge_metric",
            "judge_values",
            "judge_change",
            "resolves",
            "SCORES",
            "REGRESSION",
        ],
        "depends": ["Facet", "DependsOn", "TABLE", "DEFAULT", "depends_on", "facets"],
        "gates": [
            "GateFailed",
            "speedup_metric",
            "round_ratios",
            "measure_speedup",
            "quality_drop_metric",
            "check",
        ],
        "machine": [
            "Int8Limit",
            "calibration_models",
            "calibrate_int8_limit",
            "speedup_floor",
            "has_int8_dot_product",
        ],
        "quality": [
            "majority_score",
            "collapsed",
            "examples_needed",
            "Fidelity",
            "fidelity",
            "stream_fidelity",
        ],
        "resultfile": [
            "ResultFile",
            "same_run",
            "load_json",
            "load",
            "from_doc",
        ],
        "results": [
            "SchemaError",
            "Metric",
            "encode_labels",
            "decode_labels",
            "CaseResult",
            "declared",
            "record",
            "read",
        ],
        "runner": ["Scored", "timed_speedup", "run_compression"],
        "status": ["Status", "Verdict", "Pseudo", "JUDGED"],
    },
)
