"""A declared model's task metric (docs/suite.md): MCC for classes; Pearson and Spearman for a
regression head (num_labels = 1), whose cases record the correlation's drop with its paired
CI, agreement within a tolerance and the mean absolute difference in place of the KL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import matthews_corrcoef

from compress.core.scores import mcc, pearson, spearman
from compress.core.stats import paired_metric_delta_ci
from compress.methods.suite import load_suite
from compress.verdict.case import Case
from compress.verdict.change import quality_change
from compress.verdict.closeness import closeness
from compress.verdict.resultfile import load
from compress.verdict.results import CaseResult, decode_labels, encode_labels
from fixtures.recipes.declared import check_suite, declared_classifier
from tests.test_declared_flow import _pytest
from tests.test_suite import _error, make_model, make_tsv

SUITE = """
[models.sts]
path = "sts"
metric = "pearson"
eval = { file = "scores.tsv", text = "sentence", text_pair = "other", label = "score" }
methods = ["torch-dynamic"]
[models.sts.budgets]
quality_drop_pts = 50
min_agreement = 0.1
agreement_tolerance = 0.05
"""


def make_scores(path: Path, rows: int = 40, seed: int = 0) -> Path:
    """A pair file whose label is a similarity score in [0, 5] (STS-B's layout)."""
    return make_tsv(path, rows, seed=seed, label="score", words=12,
                    value=lambda rng: f"{rng.uniform(0, 5):.3f}")  # fmt: skip


@pytest.fixture(scope="module")
def sts(tmp_path_factory) -> Path:
    """A regression head (sts/), a classifier (tiny/), their files and suite.toml."""
    root = tmp_path_factory.mktemp("regression")
    make_model(root / "sts", num_labels=1)
    make_model(root / "tiny", num_labels=3)
    make_scores(root / "scores.tsv")
    make_tsv(root / "eval.tsv")
    (root / "suite.toml").write_text(SUITE)
    return root


def test_the_scores_are_the_libraries_and_zero_where_undefined() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    assert mcc(y, p) == pytest.approx(matthews_corrcoef(y, p))
    a, b = rng.random(50), rng.random(50)
    assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b).statistic)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    stacked = pearson(np.stack([a, b]), np.stack([b, a]), axis=-1)  # one r per resample
    assert stacked == pytest.approx([stats.pearsonr(a, b).statistic] * 2)
    assert pearson(a, np.ones(50)) == 0.0 and spearman(a, np.ones(50)) == 0.0  # no NaN
    drop, ci = paired_metric_delta_ci(a, a + 0.01, a + rng.normal(0, 0.5, 50), pearson)
    assert drop > 0 and ci.low <= drop <= ci.high


def test_outputs_keep_their_values_through_the_result_file() -> None:
    outputs = [0.5, 3.25, -1.125]
    encoded = json.loads(json.dumps(encode_labels(np.array(outputs, dtype=np.float32))))
    assert decode_labels(encoded) == outputs  # not truncated to class ids
    assert encode_labels([1, 0, 2]) == "102"  # class ids as before


def test_closeness_is_agreement_within_the_tolerance_and_mean_abs_diff() -> None:
    ref = np.array([0.0, 1.0, 2.0, 3.0])
    close = closeness(ref, ref + np.array([0.01, -0.2, 0.05, 0.5]), tolerance=0.1)
    assert close.within == (1, 0, 1, 0) and close.agreement == 0.5
    assert close.mean_abs_diff == pytest.approx(0.19)
    assert close.agreement_ci.low <= 0.5 <= close.agreement_ci.high
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        closeness(ref, ref, tolerance=0)


def test_a_regression_head_is_scored_by_its_correlation_and_closeness(sts: Path) -> None:
    suite = load_suite(sts / "suite.toml")
    (spec,) = suite.models
    assert spec.regression and spec.budgets.agreement_tolerance == 0.05
    check_suite(suite)
    clf = declared_classifier(suite, spec)
    assert clf.regression and clf.fp32_pool.regression
    assert all(isinstance(v, float) for v in clf.fp32_pool.predictions)
    assert set(clf.fp32_pool.metrics) == {"pearson", "spearman"}
    labels = clf.labels
    assert isinstance(labels[0], float) and labels[0] == pytest.approx(
        float((sts / "scores.tsv").read_text().split("\n")[1].split("\t")[2])
    )
    case = Case("sts[int8]", "quick", {}, {}, {"about": "tiny"}, {})
    clf.record_quality(case, clf.score(clf.int8, "int8"), budget_pts=50, min_agreement=0.1,
                       agreement_tolerance=0.05)  # fmt: skip
    metrics = case.metrics
    assert {"pearson_drop_pts", "pearson_reference", "agreement", "mean_abs_diff"} <= set(metrics)
    assert not {"kl_mean", "accuracy_drop_pts", "pearson_majority"} & set(metrics)
    expected = 100 * (pearson(labels, clf.fp32_pool.predictions)
                      - pearson(labels, clf.score(clf.int8, "again").predictions))  # fmt: skip
    assert metrics["pearson_drop_pts"].value == pytest.approx(expected)
    drop = metrics["pearson_drop_pts"]
    assert drop.ci is not None and drop.ci.low <= drop.value <= drop.ci.high
    diffs = np.abs(np.subtract(clf.fp32_pool.predictions, clf.score(clf.int8, "x").predictions))
    assert metrics["agreement"].value == pytest.approx(np.mean(diffs <= 0.05))
    assert metrics["mean_abs_diff"].value == pytest.approx(diffs.mean(), rel=1e-5)
    assert case.data["agreement_tolerance"] == 0.05
    assert metrics["collapsed"].value == 0.0
    result = CaseResult.from_dict(json.loads(json.dumps(case.result().to_dict())))
    change = quality_change(result, result.metrics["pearson_drop_pts"], result,
                            result.metrics["pearson_drop_pts"])  # fmt: skip
    assert change.point == 0.0  # the float evidence pairs with itself


BAD = [
    (SUITE.replace('path = "sts"', 'path = "tiny"'),  # pearson on a 3-class head
     "models.sts.metric: pearson scores a regression head (num_labels = 1); the model has 3"),
    (SUITE.replace('"pearson"', '"macro_f1"').replace("agreement_tolerance = 0.05\n", ""),
     "models.sts.metric: macro_f1 scores classes; the model is a regression head"),
    (SUITE.replace('"pearson"', '"mcc"'),
     "models.sts.budgets.agreement_tolerance: is for a regression metric"),
    (SUITE.replace('["torch-dynamic"]', '["fine-pruned"]') + 'train = "scores.tsv"\n',
     "models.sts.methods: fine-pruned trains a classification head"),
    (SUITE.replace("agreement_tolerance = 0.05", "agreement_tolerance = 0"),
     "agreement_tolerance: expected a number > 0"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_a_metric_that_does_not_fit_the_head_is_one_line(
    sts: Path, text: str, expected: str
) -> None:
    message = _error(sts, text)
    assert expected in message and "bad.toml" in message


def test_a_score_that_is_not_a_number_names_its_line(sts: Path) -> None:
    (sts / "bad.tsv").write_text("sentence\tother\tscore\na\tb\t1.5\nc\td\thigh\n")
    message = _error(sts, SUITE.replace('"scores.tsv"', '"bad.tsv"'))
    assert "bad.tsv:3: expected a number label (the model is a regression head" in message


def test_mcc_is_a_classifier_metric(sts: Path) -> None:
    text = SUITE.replace('"pearson"', '"mcc"').replace('"sts"', '"tiny"')
    text = text.replace("agreement_tolerance = 0.05\n", "").replace("scores.tsv", "eval.tsv")
    (sts / "mcc.toml").write_text(text.replace('label = "score"', 'label = "label"'))
    suite = load_suite(sts / "mcc.toml")
    assert suite.models[0].score_name == "mcc" and not suite.models[0].regression
    check_suite(suite)


def test_a_regression_head_is_benchmarked_from_its_suite_file(sts: Path) -> None:
    """The benchmark run (benchmarks/test_declared.py) of a regression head, end to end."""
    text = SUITE.replace("methods =", "batch_sizes = [2]\nmethods =")
    text = text.replace("min_agreement = 0.1", "min_agreement = 0.01\nmin_speedup = 0.01")
    (sts / "run.toml").write_text(text)  # the tiny model's speed is not the point here
    out = sts / "run.json"
    proc = _pytest("--suite", str(sts / "run.toml"), f"--benchmark-json={out}", cwd=sts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    (row,) = load(out).doc["benchmarks"]
    assert row["name"] == "test_declared[sts-torch-dynamic-bs2]"
    result = row["extra_info"]["compress_bench"]
    metrics = result["metrics"]
    for name in ("pearson_drop_pts", "agreement", "mean_abs_diff", "speedup", "size_bytes"):
        assert name in metrics, name
    assert "kl_mean" not in metrics and "accuracy_drop_pts" not in metrics
    assert metrics["agreement"]["budget"] == 0.01 and result["data"]["agreement_tolerance"] == 0.05
