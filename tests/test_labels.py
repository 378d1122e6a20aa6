"""compress.report.labels: short human labels for metric names, with units; headline columns."""

from __future__ import annotations

from compress.report.labels import HEADLINE_COLUMNS, header, headline, label


def test_registered_names_and_suffix_rules() -> None:
    assert label("process_peak_reference_bytes") == "peak RSS of the process, reference"
    assert label("speedup_baseline_s") == "reference time"
    assert label("f1_weighted_drop_pts") == "weighted-F1 drop"
    assert label("accuracy_int8_seed2") == "accuracy int8, seed 2"
    assert label("p99_compressed_s") == "p99 latency, compressed"
    assert label("bleu_drop_pts") == "bleu drop"  # a new figure: a rule, never the raw key
    assert label("unheard_of_figure") == "unheard of figure"


def test_headers_carry_the_display_unit() -> None:
    assert header("speedup", "x") == "speedup (×)"
    assert header("size_bytes", "bytes") == "checkpoint (MiB)"
    assert header("speedup_baseline_s", "s") == "reference time (ms)"
    assert header("agreement", "frac") == "agreement with reference"


def test_headline_prefers_quality_speed_size() -> None:
    names = ["agreement", "size_bytes", "speedup", "kl_mean", "f1_drop_pts", "accuracy_drop_pts"]
    assert headline(names) == ["f1_drop_pts", "accuracy_drop_pts", "speedup", "size_bytes"]
    assert len(headline(["a", "b", "c", "d", "e"])) == HEADLINE_COLUMNS
