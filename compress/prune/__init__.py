"""Layer 2, techniques: torch.nn.utils.prune methods and global pruning, structured pruning with
physical removal, Taylor fine-pruning, sparse checkpoints.

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["fine_prune", "sparse", "structured", "unstructured"],
    submod_attrs={
        "fine_prune": [
            "StructuredPruneConfig",
            "cubic_sparsity",
            "FinePruned",
            "GateScores",
            "gradient_scores",
            "optim_config",
            "fine_prune",
        ],
        "sparse": [
            "LayerSparsity",
            "SparsityReport",
            "sparsity_report",
            "encode_csr",
            "encode_bitmask",
            "decode",
            "sparse_state_dict",
            "sparse_size",
        ],
        "structured": [
            "bert_layers",
            "Masks",
            "Gates",
            "magnitude_scores",
            "select_masks",
            "expand",
            "compact",
            "expected_parameters",
            "shape_report",
            "iter_kept",
        ],
        "unstructured": [
            "PruneConfig",
            "units_to_prune",
            "prune_targets",
            "prune",
            "copy_model",
            "make_permanent",
            "n_m_mask",
        ],
    },
)
