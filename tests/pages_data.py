"""Small synthetic result files for the HTML pages' tests: a baseline with one case of each
kind of task the suite has, and a candidate that regresses, improves, loses a case and scores
one case on other data."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from compress.core.stats import Interval
from compress.verdict.results import CaseResult, Metric, record

VNNI = {
    "cpu_model": "Fast CPU",
    "isa": ["avx2", "avx512f", "avx512bw", "avx512_vnni"],
    "threads": 2,
    "versions": {"torch": "2.13.0", "transformers": "5.0.0"},
}
MINILM = "all-MiniLM-L6-v2 (BERT 6x384, pretrained), fine-tuned on GLUE MRPC train.tsv"
MRPC_DATA = {"about": "eval: GLUE MRPC msr_paraphrase_test.txt", "split": "MRPC test"}
DIGITS = {"about": "scikit-learn load_digits, stratified split", "split": "test"}
NEWS = {"about": "train: THUCNews headlines; test: THUCNews", "split": "test", "examples": 100}
# the plots the baseline's report must draw, one per model and task
TASKS = {"MRPC · MiniLM-L6", "digits · digits CNN", "WikiText-2 · LSTM LM", "THUCNews · char-BERT"}


def ci(lo: float, hi: float) -> Interval:
    return Interval(lo, hi, 0.95, 100, "percentile")


def speed(x: float) -> Metric:
    return Metric(x, "x", "higher", 0.1, True, None, ci(x - 0.1, x + 0.1))


def drop(pts: float, width: float = 1.0, unit: str = "pts") -> Metric:
    return Metric(pts, unit, "lower", 0.5, False, None, ci(pts - width, pts + width))


def size(mib: float) -> Metric:
    return Metric(mib * 2**20, "bytes", "lower", 0.01, True)


def _mrpc(speedup: float, f1: float, mib: float) -> dict[str, Metric]:
    return {
        "f1_reference": Metric(0.84, "frac", "higher", 0.01),
        "f1_drop_pts": drop(f1),
        "agreement": Metric(0.98, "frac", "higher", 0.01),
        "speedup": speed(speedup),
        "speedup_baseline_s": Metric(0.04, "s", "report"),
        "size_bytes": size(mib),
        "process_peak_reference_bytes": Metric(580 * 2**20, "bytes", "report"),
    }


def baseline_cases() -> dict[str, tuple[dict, dict, dict[str, Metric]]]:
    """fullname -> (model, data, metrics) of the baseline."""
    sweep = {**NEWS, "dataset": "thucnews", "max_length": 128}
    return {
        "b/m.py::test_mrpc_method[torch-dynamic]": (
            {"about": MINILM},
            MRPC_DATA,
            _mrpc(2.4, 0.5, 56),
        ),
        "b/m.py::test_mrpc_method[ort-static]": ({"about": MINILM}, MRPC_DATA, _mrpc(2.1, 1.2, 56)),
        "b/p.py::test_fine_pruned[taylor-int8]": (
            {"about": MINILM},
            {**MRPC_DATA, "task": "mrpc"},
            _mrpc(4.6, 0.5, 50),
        ),
        "b/s.py::test_budget_search": (
            {"about": "MRPC classifier finetuned:abc and its compressions"},
            {"split": "search: MRPC dev; held out: MRPC test", "task": "mrpc"},
            {"f1_drop_pts_heldout": drop(0.7), "speedup": speed(4.4)},
        ),
        "b/d.py::test_kd_quality[mrpc-all]": (
            {"about": f"teacher: {MINILM}; student: BERT 3x384"},
            MRPC_DATA,
            {
                "f1_teacher": Metric(0.84, "frac", "higher", 0.01),
                "int8_drop_vs_teacher_pts": drop(2.4),
            },
        ),
        "b/d.py::test_kd_speed[mrpc-int8]": (
            {"about": f"teacher: {MINILM}; student: BERT 3x384"},
            {"about": "MRPC"},
            {"speedup": speed(5.3), "size_bytes": size(50)},
        ),
        "b/q.py::test_int8_cnn[ptq-minmax]": (
            {"about": "DigitsCNN width 2"},
            DIGITS,
            {"speedup": speed(1.4), "accuracy_drop_pts": drop(2.0, 0.3), "size_bytes": size(0.2)},
        ),
        "b/l.py::test_lstm_lm_int8": (
            {"about": "word_language_model LSTM LM, trained from scratch"},
            {"about": "WikiText-2 test.txt", "split": "test.txt"},
            {"speedup": speed(1.8), "loss_delta": Metric(0.0001, "nats", "lower", 0.01)},
        ),
        "b/c.py::test_length_sweep[thucnews-len128]": (
            {"about": "char-level BERT (4x256) on THUCNews headlines"},
            sweep,
            {
                "speedup": speed(2.0),
                "f1_weighted_drop_pts": drop(0.1),
                "fp32_s_per_sample": Metric(0.02, "s", "report"),
                "int8_s_per_sample": Metric(0.01, "s", "report"),
                "size_bytes": size(7),
            },
        ),
    }


def candidate_cases() -> dict[str, tuple[dict, dict, dict[str, Metric]]]:
    """The baseline with: torch-dynamic 25% slower and ort-static's checkpoint 5% larger (two
    regressions), the digits CNN's drop 1.5 pt smaller (an improvement), the fine-pruned F1
    drop up 0.7 pt with a CI that reaches no change (inconclusive), the LSTM case gone
    (missing) and the news case scored on other data (its quality not comparable)."""
    cases = copy.deepcopy(baseline_cases())
    cases["b/m.py::test_mrpc_method[torch-dynamic]"][2]["speedup"] = speed(1.8)
    cases["b/m.py::test_mrpc_method[ort-static]"][2]["size_bytes"] = size(58.8)
    cases["b/q.py::test_int8_cnn[ptq-minmax]"][2]["accuracy_drop_pts"] = drop(0.5, 0.3)
    cases["b/p.py::test_fine_pruned[taylor-int8]"][2]["f1_drop_pts"] = drop(1.2, 1.7)
    del cases["b/l.py::test_lstm_lm_int8"]
    cases["b/c.py::test_length_sweep[thucnews-len128]"][1]["examples"] = 50
    return cases


def write(path: Path, cases: dict, fp: dict = VNNI) -> Path:
    """A result file of ``cases`` (fullname -> (model, data, metrics))."""
    rows = []
    for full, (model, data, metrics) in cases.items():
        extra: dict = {"profile": "quick"}
        record(extra, CaseResult("c", metrics, {}, model, data, fp, "quick"))
        rows.append({"name": full.rsplit("::", 1)[-1], "fullname": full, "extra_info": extra})
    doc = {"benchmarks": rows, "machine_info": {"fingerprint": fp, "profile": "quick"}}
    doc["datetime"] = path.stem
    path.write_text(json.dumps(doc))
    return path


def runs(folder: Path) -> tuple[Path, Path]:
    """(baseline, candidate) files; the candidate ran on torch 2.14."""
    newer = {**VNNI, "versions": {**VNNI["versions"], "torch": "2.14.0"}}
    return (
        write(folder / "baseline.json", baseline_cases()),
        write(folder / "candidate.json", candidate_cases(), newer),
    )
