"""Layer 5: the accuracy-budget search (``python -m compress.search``).

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["report", "run", "sensitivity", "space", "study"],
    submod_attrs={
        "report": ["SearchReport", "describe", "render_markdown", "plot", "write_report"],
        "run": ["run_search", "answer", "load_space"],
        "sensitivity": ["linear_names", "rank_linear_layers"],
        "space": [
            "SearchError",
            "Dimension",
            "Built",
            "Space",
            "SearchConfig",
            "Evaluation",
            "timing_lock",
            "suggest",
            "configurations",
            "measure",
            "dominates",
            "pareto_front",
            "choose",
            "key",
        ],
        "study": ["Worker", "plain", "open_study", "evaluations", "Claims"],
    },
)
