"""Layer 5: one run against another, by the evidence of both (``python -m compress.compare``).

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["html", "judge", "notes", "outcomes", "reference", "rules"],
    submod_attrs={
        "html": [
            "machine_sentence",
            "rows_table",
            "by_severity",
            "counts",
            "summary_line",
            "compare_page",
        ],
        "judge": [
            "compare",
            "confirm",
            "retest_ids",
            "run",
            "run_rows",
            "kind_differences",
            "is_regression",
        ],
        "notes": ["summary"],
        "outcomes": ["absent_rows", "outcome_rows"],
        "reference": ["Reference", "choose", "committed", "local_path", "record"],
        "rules": [
            "ProfileMismatch",
            "profile_label",
            "Machines",
            "machines",
            "Options",
            "eval_data_note",
            "unmet",
            "is_speed",
        ],
    },
)
