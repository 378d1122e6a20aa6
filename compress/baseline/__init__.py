"""Layer 5: record a committed baseline from several runs, and list the baselines there are
(``python -m compress.baseline``).

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["pick", "store"],
    submod_attrs={
        "pick": ["check", "pick", "pick_case", "median_limit_run", "speedups", "passed"],
        "store": [
            "Entry",
            "baseline_path",
            "machine_folder",
            "repo_root",
            "run_pytest",
            "run_suite",
            "entries",
            "RunError",
        ],
    },
)
