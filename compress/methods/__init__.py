"""Layer 3, the method registry: every compression method declared once (registry), built
through one entry point (build), and the suite files that name them (suite).

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["build", "registry", "suite", "table"],
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
        "suite": ["Suite", "SuiteError", "DeclaredModel", "DataFile", "Budgets", "load_suite"],
    },
)
