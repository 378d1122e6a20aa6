"""Unit tests for compress.prune.unstructured: configs, exact sparsity, permanence, N:M masks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.measure.meters import serialized_size
from compress.prune.sparse import sparsity_report
from compress.prune.unstructured import (
    PruneConfig,
    make_permanent,
    n_m_mask,
    prune,
    prune_targets,
    units_to_prune,
)
from fixtures.models.bert import TINY, random_classifier, synthetic_batch

# 3x4 weight with distinct magnitudes 1..12 (signs mixed) so L1 choices are unambiguous.
W = torch.tensor([[1.0, -2.0, 3.0, -4.0], [-5.0, 6.0, -7.0, 8.0], [9.0, -10.0, 11.0, -12.0]])


def _net() -> nn.Sequential:
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(W)
        net[2].weight.copy_(torch.tensor([[0.5, -0.1, 2.5], [0.3, 4.0, -0.2]]))
    return net


# ---- config validation ----------------------------------------------------------------------


@pytest.mark.parametrize("amount", [-0.1, 1.5, -1, True, "half"])
def test_amount_outside_range_is_rejected(amount: object) -> None:
    with pytest.raises(ValueError, match="amount"):
        PruneConfig("l1_unstructured", amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "magic"}, "method"),
        ({"n": 0}, "n must be"),
        ({"n": "l7"}, "n must be"),
        ({"module_types": ("Embedding",)}, "module_types"),
        ({"targets": ()}, "targets"),
        ({"global_criterion": "l2"}, "global_criterion"),
    ],
)
def test_bad_config_fields(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PruneConfig(**kwargs)


def test_units_to_prune_rounds_like_torch() -> None:
    assert units_to_prune(0.5, 12) == 6
    assert units_to_prune(0.3, 10) == 3
    assert units_to_prune(0.25, 2) == 0  # round(0.5) == 0 (banker's rounding, as torch)
    assert units_to_prune(5, 12) == 5


# ---- bad input at prune time ----------------------------------------------------------------


def test_count_larger_than_weights_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"0: amount 13 is more than its 12 weights"):
        prune(_net(), PruneConfig("l1_unstructured", 13, targets=("0",)))


def test_count_larger_than_rows_is_rejected() -> None:
    config = PruneConfig("ln_structured", 4, n=2, dim=0, targets=("0",))
    with pytest.raises(ValueError, match="more than its 3 slices along dim 0"):
        prune(_net(), config)


def test_global_count_larger_than_all_targets_is_rejected() -> None:
    with pytest.raises(ValueError, match="more than the 18 target weights"):
        prune(_net(), PruneConfig("global_unstructured", 19))


def test_structured_dim_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        prune(_net(), PruneConfig("random_structured", 0.5, dim=2))


def test_missing_parameter_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"has no parameter 'kernel'; it has \['bias', 'weight'\]"):
        prune(_net(), PruneConfig("l1_unstructured", 0.5, name="kernel"))


def test_targets_matching_nothing_are_rejected() -> None:
    with pytest.raises(ValueError, match="no Linear/Conv2d module matches"):
        prune(_net(), PruneConfig(targets=("encoder.*",)))


def test_custom_mask_of_wrong_shape_is_rejected() -> None:
    config = PruneConfig("custom_from_mask", targets=("0",))
    expected = r"mask for 0.weight has shape \(4, 3\), expected \(3, 4\)"
    with pytest.raises(ValueError, match=expected):
        prune(_net(), config, masks={"0": torch.ones(4, 3)})


def test_custom_mask_missing_or_not_binary_is_rejected() -> None:
    config = PruneConfig("custom_from_mask")
    with pytest.raises(ValueError, match="needs masks"):
        prune(_net(), config)
    with pytest.raises(ValueError, match=r"no mask for target module\(s\) \['2'\]"):
        prune(_net(), config, masks={"0": torch.ones(3, 4)})
    with pytest.raises(ValueError, match="only 0 and 1"):
        prune(_net(), config, masks={"0": torch.full((3, 4), 0.5), "2": torch.ones(2, 3)})
    with pytest.raises(ValueError, match="only used by custom_from_mask"):
        prune(_net(), PruneConfig("l1_unstructured"), masks={"0": torch.ones(3, 4)})


# ---- exact sparsity, by hand ----------------------------------------------------------------


def test_l1_unstructured_zeroes_the_smallest_weights() -> None:
    pruned = prune(_net(), PruneConfig("l1_unstructured", 0.5, targets=("0",)))
    expected = W.clone()
    expected[W.abs() <= 6] = 0  # magnitudes 1..6 are the smallest half
    assert torch.equal(pruned[0].weight, expected)
    report = sparsity_report(pruned, PruneConfig(targets=("0",)))
    assert (report.zeros, report.total, report.sparsity) == (6, 12, 0.5)


def test_random_unstructured_prunes_exactly_the_amount() -> None:
    model = nn.Linear(20, 10)
    pruned = prune(model, PruneConfig("random_unstructured", 0.3))
    assert int((pruned.weight == 0).sum()) == 60


def test_ln_structured_zeroes_whole_rows_by_norm() -> None:
    pruned = prune(_net(), PruneConfig("ln_structured", 1, n=2, dim=0, targets=("0",)))
    assert torch.equal(pruned[0].weight[0], torch.zeros(4))  # row 0 has the smallest L2 norm
    assert torch.equal(pruned[0].weight[1:], W[1:])
    layer = sparsity_report(pruned, PruneConfig(targets=("0",))).layers[0]
    assert (layer.zero_rows, layer.zero_cols, layer.zeros) == (1, 0, 4)


def test_random_structured_on_columns() -> None:
    pruned = prune(_net(), PruneConfig("random_structured", 0.5, dim=1, targets=("0",)))
    layer = sparsity_report(pruned, PruneConfig(targets=("0",))).layers[0]
    assert (layer.zero_cols, layer.zero_rows, layer.zeros) == (2, 0, 6)


def test_global_unstructured_ranks_across_layers() -> None:
    pruned = prune(_net(), PruneConfig("global_unstructured", 6))
    # the 6 smallest |w| of both layers: 0.1, 0.2, 0.3, 0.5 (layer 2) and 1, 2 (layer 0)
    assert torch.equal(pruned[2].weight.abs(), torch.tensor([[0.0, 0.0, 2.5], [0.0, 4.0, 0.0]]))
    assert int((pruned[0].weight == 0).sum()) == 2 and pruned[0].weight[0, 2] == 3.0
    assert sparsity_report(pruned).zeros == 6


def test_custom_from_mask_applies_the_mask() -> None:
    mask = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]])
    pruned = prune(_net(), PruneConfig("custom_from_mask", targets=("0",)), masks={"0": mask})
    assert torch.equal(pruned[0].weight, W * mask)


def test_n_m_mask_keeps_the_largest_in_each_group() -> None:
    weight = torch.tensor([[1.0, -5, 3, 2, 0.5, 7, -8, 1, 4]])
    expected = torch.tensor([[0.0, 1, 1, 0, 0, 1, 1, 0, 1]])  # last group of one: kept
    assert torch.equal(n_m_mask(weight, 2, 4), expected)
    with pytest.raises(ValueError):
        n_m_mask(weight, 5, 4)


# ---- permanence, copies, and the model still runs -------------------------------------------


def test_prune_and_make_permanent_leave_their_input_alone() -> None:
    net = _net()
    pruned = prune(net, PruneConfig("l1_unstructured", 0.5))
    assert torch.equal(net[0].weight, W) and not hasattr(net[0], "weight_mask")
    permanent = make_permanent(pruned)
    assert hasattr(pruned[0], "weight_mask")  # the input keeps its masks
    assert not hasattr(permanent[0], "weight_mask")
    assert sorted(dict(permanent.named_parameters())) == sorted(dict(net.named_parameters()))
    x = torch.randn(5, 4)
    assert torch.equal(permanent(x), pruned(x))
    assert serialized_size(pruned) > serialized_size(permanent)  # orig + mask stored
    assert abs(serialized_size(permanent) - serialized_size(net)) < 0.05 * serialized_size(net)


def test_pruning_a_pruned_model_stacks_masks() -> None:
    once = prune(nn.Linear(10, 10), PruneConfig("l1_unstructured", 0.5))
    twice = prune(once, PruneConfig("l1_unstructured", 0.5))
    assert int((twice.weight == 0).sum()) == 75  # half of the 50 remaining
    assert int((make_permanent(twice).weight == 0).sum()) == 75


def test_pruned_bert_still_runs() -> None:
    model = random_classifier(TINY)
    config = PruneConfig("ln_structured", 0.5, n=2, targets=("bert.encoder.*",))
    assert len(prune_targets(model, config)) == 12  # 6 Linear per layer, 2 layers
    pruned = make_permanent(prune(model, config))
    logits = pruned(**synthetic_batch(TINY["vocab_size"], 2, 8)).logits
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    assert sparsity_report(pruned, config).sparsity == pytest.approx(0.5)
