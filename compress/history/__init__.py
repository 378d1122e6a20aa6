"""Layer 5: runs across nights and machines in one database, and their change points (``python -m
compress.history``).

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["changes", "db", "plot"],
    submod_attrs={
        "changes": ["Point", "Series", "series", "change_points", "Change", "changes", "render"],
        "db": ["HistoryError", "HistoryWarning", "connect", "result_files", "ingest"],
        "plot": ["change_verdict", "series_figure", "change_table", "runs_list", "history_html"],
    },
)
