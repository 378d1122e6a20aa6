"""Layer 3, the method registry: every compression method declared once (registry), built
through one entry point (build), and the suite files that name them (suite; their values and
data sources read by suite_reader).

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["build", "registry", "suite", "suite_reader", "table"],
    submod_attrs={
        "build": ["Built", "Context", "build"],
        "registry": [
            "Claim",
            "Method",
            "Needs",
            "Precision",
            "REGISTRY",
            "METHODS",
            "get",
            "select",
            "UnknownMethod",
        ],
        "suite": ["Suite", "DeclaredModel", "Budgets", "METRICS", "load_suite"],
        "suite_reader": ["SuiteError", "DataFile", "Reader"],
    },
)
