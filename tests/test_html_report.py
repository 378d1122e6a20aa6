"""compress.html_report: one self-contained page with plots and tables, checked in a browser."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from compress.html_report import machine_matrix, pareto_points, render_html
from compress.report import main
from compress.resultfile import load
from compress.results import CaseResult, Metric, record
from compress.stats import Interval

VNNI = {"cpu_model": "Fast CPU", "isa": ["avx2", "avx512f", "avx512bw", "avx512_vnni"]}
AVX2 = {"cpu_model": "Old CPU", "isa": ["avx2", "fma"]}


def _ci(lo: float, hi: float) -> Interval:
    return Interval(lo, hi, 0.95, 100, "percentile")


def _case(speed: float, drop: float, data: dict | None = None, fp: dict = VNNI) -> CaseResult:
    metrics = {
        "speedup": Metric(speed, "x", "higher", 0.2, True, 1.2, _ci(speed - 0.1, speed + 0.1)),
        "f1_drop_pts": Metric(drop, "pts", "lower", 1.0, False, 1.0, _ci(drop - 1, drop + 1)),
        "size_bytes": Metric(50 * 2**20, "bytes", "lower", 0.01, True),
        "fp32_s_per_sample": Metric(0.02, "s", "report"),
        "int8_s_per_sample": Metric(0.01, "s", "report"),
    }
    return CaseResult("c", metrics, {}, {"about": "m"}, data or {}, fp, "quick")


def _write(tmp_path: Path, name: str, fp: dict) -> Path:
    rows = []
    for full, case in [
        ("m.py::test_method[torch-dynamic]", _case(2.4, 0.5, fp=fp)),
        ("m.py::test_method[ort-static]", _case(2.1, 2.5, fp=fp)),
        (
            "c.py::test_length_sweep[thucnews-len128]",
            _case(2.1, 0.0, {"dataset": "thucnews", "max_length": 128}, fp),
        ),
        (
            "c.py::test_length_sweep[thucnews-len256]",
            _case(1.9, 0.0, {"dataset": "thucnews", "max_length": 256}, fp),
        ),
    ]:
        extra: dict = {"profile": "quick"}
        record(extra, case)
        rows.append({"name": full, "fullname": full, "extra_info": extra})
    path = tmp_path / name
    info = {"fingerprint": fp, "profile": "quick"}
    path.write_text(json.dumps({"benchmarks": rows, "machine_info": info}))
    return path


def test_page_embeds_plots_and_every_table(tmp_path: Path) -> None:
    result = load(_write(tmp_path, "a.json", VNNI))
    assert [label for label, _, _ in pareto_points(result)][:2] == ["torch-dynamic", "ort-static"]
    page = render_html([result])
    images = page.count('src="data:image/png;base64,')
    assert images == 2  # the Pareto plot and the sweep curves
    png = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h3>test_method</h3>" in page and "<h3>test_length_sweep</h3>" in page
    assert "2.40x [2.30, 2.50]" in page


def test_several_machines_give_a_speedup_matrix(tmp_path: Path) -> None:
    a, b = load(_write(tmp_path, "a.json", VNNI)), load(_write(tmp_path, "b.json", AVX2))
    matrix = machine_matrix([a, b])
    assert "avx512-vnni" in matrix and "avx2" in matrix and matrix.count("2.40x") == 2
    assert "Speedup by machine" in render_html([a, b])


def test_cli_writes_the_page(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.html"
    assert main([str(_write(tmp_path, "a.json", VNNI)), "--html", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium (Debian package chromium)")
def test_a_real_browser_renders_the_plots_and_tables(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html([load(_write(tmp_path, "a.json", VNNI))]))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run(
        [BROWSER, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count("<img") == 2 and dom.count("<table") == 2
    shot = tmp_path / "shot.png"
    subprocess.run(
        [BROWSER, *flags, f"--screenshot={shot}", "--window-size=1400,2000", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
