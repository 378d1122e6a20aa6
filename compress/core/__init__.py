"""Layer 0, imports no other layer: errors, validated configs, statistics and scores, strict
text files and tables (parquet, datasets directories), database URLs, the environment (every
variable, read in one place), and the one place that touches torch.ao.quantization.

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "config",
        "dburl",
        "environment",
        "errors",
        "scores",
        "stats",
        "tabledata",
        "textdata",
        "torch_ao",
    ],
    submod_attrs={
        "config": ["config_from_dict"],
        "dburl": ["database_url", "sqlite_path", "where", "describe"],
        "environment": [
            "Variable",
            "VARIABLES",
            "declared",
            "read",
            "text",
            "parse",
            "render",
            "user_variable",
            "inherited",
        ],
        "errors": ["InputError"],
        "scores": ["mcc", "pearson", "spearman"],
        "stats": [
            "Interval",
            "bootstrap_ci",
            "median_ci",
            "speedup_ci",
            "f1_binary",
            "f1_weighted",
            "f1_macro",
            "accuracy",
            "scorer",
            "paired_metric_delta_ci",
            "metric_ci",
            "seed_summary",
            "verdict",
        ],
        "tabledata": ["Table", "read_parquet", "read_saved", "pick_split", "from_dataset"],
        "textdata": ["read_utf8", "LabelSpace", "LabelledTexts", "read_labelled", "read_dataset"],
        "torch_ao": [
            "quiet_deprecations",
            "quantize_dynamic",
            "fuse_modules",
            "fuse_modules_qat",
            "prepare",
            "prepare_qat",
            "convert",
        ],
    },
)
