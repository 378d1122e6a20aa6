"""Layer 1: the one training loop and classifier evaluation.

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["evaluate", "loop"],
    submod_attrs={
        "evaluate": [
            "classification_metrics",
            "EvalResult",
            "logits_of",
            "forward_fn",
            "evaluate_classifier",
        ],
        "loop": [
            "OptimConfig",
            "param_groups",
            "lr_factor",
            "optimizer_for",
            "Loop",
            "fit",
            "start",
            "seeded",
        ],
    },
)
