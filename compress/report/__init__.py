"""Layer 4: one run's tables, Pareto fronts and HTML page (``python -m compress.report``).

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "compare_table",
        "html",
        "labels",
        "pareto",
        "pareto_plot",
        "style",
        "tables",
        "tables_html",
    ],
    submod_attrs={
        "compare_table": ["Row", "fmt", "render"],
        "html": ["sweep_figure", "machine_matrix", "pareto_section", "run_section", "render_html"],
        "labels": ["label", "header", "headline"],
        "pareto": [
            "Task",
            "Point",
            "dataset_of",
            "model_of",
            "distilled_points",
            "pareto_groups",
            "front",
        ],
        "pareto_plot": ["area", "place_labels", "pareto_figure", "drop_label"],
        "style": ["verdict", "page", "pyplot", "png_base64", "img_tag"],
        "tables": ["table_of", "collect_tables", "render_table", "machine_line"],
        "tables_html": ["human_table"],
    },
)
