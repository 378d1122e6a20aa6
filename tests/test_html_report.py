"""compress.report.html: one self-contained page per run, a Pareto plot per model and task,
human tables (compress.report.tables_html)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from compress.report.cli import main
from compress.report.html import machine_matrix, render_html
from compress.report.pareto import pareto_groups
from compress.report.tables_html import human_table
from compress.verdict.resultfile import load
from tests.pages_data import TASKS, VNNI, baseline_cases, runs, write

AVX2 = {"cpu_model": "Old CPU", "isa": ["avx2", "fma"]}


def test_page_has_one_pareto_plot_per_task_the_sweep_and_every_table(tmp_path: Path) -> None:
    base, _ = runs(tmp_path)
    page = render_html([load(base)])
    tasks = re.findall(r'<figure class="pareto" data-task="([^"]+)"', page)
    assert sorted(tasks) == sorted(TASKS)
    images = page.split('src="data:image/png;base64,')
    assert len(images) - 1 == len(TASKS) + 1  # the Pareto plots and the sweep curves
    assert base64.b64decode(images[1].split('"')[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for table in ("test_mrpc_method", "test_length_sweep", "test_lstm_lm_int8"):
        assert f'<h4 id="{table}">' in page
    assert "2.40x [2.30, 2.50]" in page


def test_the_front_is_named_under_its_plot(tmp_path: Path) -> None:
    page = render_html([load(runs(tmp_path)[0])])
    mrpc = page.split('data-task="MRPC · MiniLM-L6"')[1].split("</figure>")[0]
    caption = mrpc.split("<figcaption>")[1].split("</figcaption>")[0]
    # taylor-int8 (4.6x, 0.5 pt) beats the int8 methods and the search; only the distilled
    # student (5.3x, 2.4 pt) is faster
    assert caption == "Front: 3 fine_pruned: taylor-int8, 5 kd_quality: mrpc-all int8."
    assert mrpc.count("on the front") == 2


def test_tables_are_labelled_with_units_and_fold_the_rest(tmp_path: Path) -> None:
    result = load(runs(tmp_path)[0])
    rows = [("torch-dynamic", result.cases["b/m.py::test_mrpc_method[torch-dynamic]"])]
    table = human_table(rows)
    headline, folded = table.split("<details>")
    assert "F1 drop (pts)" in headline and "speedup (×)" in headline
    assert "checkpoint (MiB)" in headline and "peak RSS" not in headline
    assert "peak RSS of the process, reference (MiB)" in folded
    assert 'title="process_peak_reference_bytes"' in folded  # the recorded name, on hover
    assert "0.5 [-0.5, 1.5]" in headline


def test_several_machines_give_a_speedup_matrix(tmp_path: Path) -> None:
    a = load(write(tmp_path / "a.json", baseline_cases()))
    b = load(write(tmp_path / "b.json", baseline_cases(), AVX2))
    matrix = machine_matrix([a, b])
    assert "avx512-vnni" in matrix and "avx2" in matrix and matrix.count("2.40x") == 2
    assert "Speedup by machine" in render_html([a, b])


def test_cli_writes_the_page(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.html"
    result = write(tmp_path / "a.json", baseline_cases(), VNNI)
    assert main([str(result), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page == render_html([load(result)])
    assert sorted(re.findall(r'<figure class="pareto" data-task="([^"]+)"', page)) == sorted(TASKS)
    for table in {full.split("::")[1].split("[")[0] for full in baseline_cases()}:
        assert f'<h4 id="{table}">' in page
    assert "Fast CPU" in page and "2.40x [2.30, 2.50]" in page  # torch-dynamic's speedup
    printed = capsys.readouterr().out  # the tables go to stdout too
    assert "### test_mrpc_method" in printed and "2.40x [2.30, 2.50]" in printed


def test_the_committed_baseline_gets_a_plot_per_model_and_task() -> None:
    """The grouping rule on the suite's real provenance (compress.report.pareto)."""
    [baseline] = sorted(Path(__file__).resolve().parents[1].glob("results/*/*_baseline-quick.json"))
    groups = {task.title: task.quality for task in pareto_groups(load(baseline))}
    assert groups == {
        "MRPC · MiniLM-L6": "F1",
        "THUCNews · char-BERT": "weighted F1",
        "Sogou news · char-BERT": "weighted F1",
        "WikiText-2 · LSTM LM": "loss",
        "digits · digits CNN": "accuracy",
        "digits · DeepNN (KD tutorial)": "accuracy",
    }
    mrpc = next(p for t, p in pareto_groups(load(baseline)).items() if t.dataset == "MRPC")
    benchmarks = {p.benchmark for p in mrpc}
    assert benchmarks == {  # the declared suite's rows score the same model on MRPC test
        "test_compiled",
        "test_declared",
        "test_fine_pruned",
        "test_mrpc_method",
        "test_budget_search",
        "test_kd_quality",
    }
