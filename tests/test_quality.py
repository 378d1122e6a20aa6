"""compress.verdict.quality: the constant predictor's floor, collapse, the examples a budget needs,
and fidelity to the reference (agreement, mean KL) with their CIs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from compress.core.stats import Interval, accuracy, f1_binary
from compress.verdict.quality import (
    collapsed,
    examples_needed,
    fidelity,
    majority_score,
    stream_fidelity,
)


def test_majority_score_is_the_constant_predictor_of_the_most_frequent_label() -> None:
    y = [1, 1, 1, 0]  # answering 1 always: accuracy 3/4, F1 2*3/(2*3+1) = 6/7
    assert majority_score(y, accuracy) == pytest.approx(0.75)
    assert majority_score(y, f1_binary) == pytest.approx(6 / 7)
    assert majority_score([0, 0, 0, 1], f1_binary) == 0.0  # answering 0 finds no positive


@pytest.mark.parametrize(
    ("predictions", "low", "expected"),
    [
        ([1, 1, 1, 1], 0.5, True),  # one class only, whatever the CI says
        ([1, 0, 1, 1], 0.80, True),  # the score's CI reaches the floor
        ([1, 0, 1, 1], 0.82, False),
    ],
)
def test_collapsed(predictions: list[int], low: float, expected: bool) -> None:
    ci = Interval(low, 0.9, 0.95, 4, "percentile")
    assert collapsed(predictions, ci, floor=0.81) is expected


def test_examples_needed_scales_the_half_width_as_one_over_root_n() -> None:
    ci = Interval(-1.0, 3.0, 0.95, 400, "percentile")  # drop 1.0 +- 2.0 against a budget 2.0
    # half-width 2 must shrink to the margin 1: n x (2/1)^2
    assert examples_needed(1.0, ci, 2.0) == 1600
    assert examples_needed(2.0, ci, 2.0) is None  # on the budget: no size decides it
    wide = Interval(0.0, 4.0, 0.95, 400, "percentile")  # asymmetric: the longer arm counts
    assert examples_needed(1.0, wide, 2.0) == 3600


def test_identical_models_agree_fully_with_zero_kl() -> None:
    logits = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    fid = fidelity(logits, logits.clone())
    assert fid.agreement == 1.0 and fid.kl == pytest.approx(0.0, abs=1e-12)
    assert fid.kl_ci.high == pytest.approx(0.0, abs=1e-12)


def test_fidelity_counts_flips_and_kl_by_hand() -> None:
    ref = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 3.0]])
    comp = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 1.0], [0.0, 3.0]])  # row 2 flips
    fid = fidelity(ref, comp)
    assert fid.agreement == pytest.approx(0.75)
    assert fid.reference == (0, 1, 0, 1) and fid.compressed == (0, 1, 1, 1)
    p = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    kl_row = float(np.sum(p * (np.log(p) - np.log(p[::-1]))))
    assert fid.kl == pytest.approx(kl_row / 4)
    assert fid.kl_ci.low <= fid.kl <= fid.kl_ci.high and fid.kl_ci.n == 4


def test_fidelity_ci_narrows_with_more_inputs() -> None:
    gen = torch.Generator().manual_seed(1)
    widths = []
    for n in (100, 1600):
        ref = torch.randn(n, 2, generator=gen)
        comp = ref + 0.5 * torch.randn(n, 2, generator=gen)
        widths.append(fidelity(ref, comp).agreement_ci.width)
    assert widths[1] < widths[0] / 2  # about 1/sqrt(16) = 1/4


@pytest.mark.parametrize("shapes", [((3, 2), (3, 3)), ((1, 2), (1, 2)), ((4,), (4,))])
def test_fidelity_refuses_mismatched_logits(shapes) -> None:
    a, b = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match="logits must be 2-D"):
        fidelity(a, b)


def test_kl_is_finite_for_confident_logits() -> None:
    ref = torch.tensor([[50.0, -50.0], [-50.0, 50.0]])
    fid = fidelity(ref, -ref)
    assert math.isfinite(fid.kl) and fid.kl > 50 and fid.agreement == 0.0


def test_stream_fidelity_pools_rows_and_resamples_windows() -> None:
    gen = torch.Generator().manual_seed(2)
    windows = []
    for flips in (0, 1, 2, 1):  # 4 windows of 5 rows; 4 of 20 rows change their top-1
        ref = torch.randn(5, 7, generator=gen)
        comp = ref.clone()
        for row in range(flips):
            comp[row] = -ref[row]  # the top-1 becomes the old bottom-1
        windows.append((ref, comp))
    fid = stream_fidelity(windows)
    assert fid.agreement == pytest.approx(16 / 20) and fid.reference is None
    assert fid.agreement_ci.n == 4  # windows are the resampled unit
    assert fid.agreement_ci.low <= 0.8 <= fid.agreement_ci.high and fid.kl > 0
    with pytest.raises(ValueError, match="at least 2 windows"):
        stream_fidelity(windows[:1])
