"""Layer 2, techniques: distillation (soft-target KL, cosine hidden states, MSE features) and data
augmentation.

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["augment", "kd", "losses"],
    submod_attrs={
        "augment": ["AugmentConfig", "word_neighbours", "augment_texts"],
        "kd": [
            "DistillConfig",
            "model_outputs",
            "TeacherTargets",
            "teacher_targets",
            "fill_teacher_labels",
            "distillation_loss",
            "optim_config",
            "distill",
            "student_from_teacher",
        ],
        "losses": [
            "check_label_counts",
            "soft_target_loss",
            "cosine_hidden_loss",
            "mse_feature_loss",
            "feature_adapter",
        ],
    },
)
