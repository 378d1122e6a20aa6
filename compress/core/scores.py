"""Scores beyond accuracy and F1 (compress.core.stats), each from a maintained library: the
Matthews correlation of predicted classes (scikit-learn), and Pearson's and Spearman's
correlation of a regression head's outputs with the gold scores (SciPy).

Each is 0.0 where it is undefined (a constant input: a model that answers one value, or a
bootstrap resample that draws one example many times), as scikit-learn's
``matthews_corrcoef`` already is, so a resample never turns a confidence interval into NaN.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import matthews_corrcoef


def mcc(y: np.ndarray, p: np.ndarray) -> float:
    """Matthews correlation coefficient of predicted classes (GLUE CoLA's metric)."""
    return float(matthews_corrcoef(y, p))


def _defined(value: Any) -> Any:
    value = np.nan_to_num(np.asarray(value, dtype=float), nan=0.0)
    return float(value) if np.ndim(value) == 0 else value


def pearson(y: np.ndarray, p: np.ndarray, axis: int = -1) -> Any:
    """Pearson's r of outputs ``p`` against scores ``y`` (vectorized along ``axis``: one r per
    stacked resample)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # undefined: 0.0 below
        r = stats.pearsonr(np.asarray(y, float), np.asarray(p, float), axis=axis).statistic
    return _defined(r)


def spearman(y: np.ndarray, p: np.ndarray) -> float:
    """Spearman's rank correlation of outputs ``p`` against scores ``y``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = stats.spearmanr(np.asarray(y, float), np.asarray(p, float)).statistic
    return _defined(rho)
