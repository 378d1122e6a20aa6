"""The regression gate's operating characteristic, measured (docs/gate.md).

Runs the MRPC cases the injections touch (MiniLM int8 latency at length 128, batch 1 and 8, and
MRPC test quality) in scratch copies of this working tree, unchanged (A/A) or with one real
cause of regression applied (tools/inject.py and the edits below), and gates every run against a
reference as CI gates a run (``--benchmark-compare``, retest included). The reference is the
median of the first unchanged runs (``ref``). Nothing here edits the suite.

    python tools/gate_oc.py OUT ref:3 aa:5 pad-4:3 ffn-fp32:1 noise-0.1-3:1 ...
    python tools/gate_oc.py OUT --table

OUT gets one result JSON per run (runs/), each run's log (logs/), and ``oc.json``: per run, the
gate's exit status and the rows that regressed; then every pair of ``ref`` runs compared
without a retest (compare/).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compress.compare.judge import run  # noqa: E402
from compress.compare.rules import Options  # noqa: E402
from compress.verdict.resultfile import load  # noqa: E402

SELECT = "minilm-l6-mrpc-seq128 or test_mrpc_quality"
MODULE = "benchmarks/test_quantize_dynamic.py"
LSTM = "benchmarks/test_quantize_dynamic_lstm.py::test_lstm_lm_int8"
CLASSIFIERS = "fixtures/plugins/classifiers.py"
QUANT_LINE = "        quantize_dynamic(fp32, config),\n"
CONFIG_LINE = "    config = DynamicQuantConfig()\n"
PAD_OLD = "        compressed=forward_fn(pair.int8, batch),\n"
FFN = ("bert.encoder.layer.0.intermediate.dense", "bert.encoder.layer.0.output.dense")


def _keep(*names: str) -> list[tuple[str, str, str]]:
    return [(CLASSIFIERS, CONFIG_LINE, f"    config = DynamicQuantConfig(keep_fp32={names!r})\n")]


def edits(name: str) -> list[tuple[str, str, str]]:
    """(file, old text, new text) of the injection ``name``."""
    kind, _, arg = name.partition("-")
    if kind == "pad":  # the compressed model's inputs padded to more tokens, same checkpoint
        new = "        compressed=forward_fn(pair.int8, synthetic_batch(vocab, case.batch, "
        return [(MODULE, PAD_OLD, new + f"case.seq + {int(arg)})),\n")]
    if kind == "noise":  # int8 of perturbed weights: F1 lost the way a scale bug loses it
        sigma, seed = arg.split("-")
        call = f'__import__("tools.inject", fromlist=["perturb"]).perturb(fp32, {sigma}, {seed})'
        return [(CLASSIFIERS, QUANT_LINE, f"        quantize_dynamic({call}, config),\n")]
    if name == "ffn-fp32":  # two encoder FFN Linears left in fp32: slower and larger
        return _keep(*FFN)
    if name == "pooler-fp32":  # +0.75% checkpoint, speed unchanged
        return _keep("bert.pooler.dense")
    if name == "pooler-attn-fp32":  # +1.5% checkpoint
        return _keep("bert.pooler.dense", "bert.encoder.layer.5.attention.output.dense")
    if name == "deleted":  # a case removed from the parametrization
        old = '    *(SpeedCase(m, 128, b) for m in ("minilm-l6-mrpc", "bert-base-random-init") '
        return [(MODULE, old + "for b in (1, 8)),\n", old + "for b in (1,)),\n")]
    if name == "error":  # the quality case crashes after it was timed
        old = "    run = new_case(\n        config=clf.quant_config.to_dict(),\n"
        return [(MODULE, old, "    clf.int8.no_such_attribute  # noqa: B018\n" + old)]
    if name in ("ref", "aa", "skip", "nothing", "aa-lstm"):
        return []
    raise ValueError(f"unknown injection {name!r}")


def scratch(out: Path, name: str) -> Path:
    """A copy of the working tree (tracked and untracked files) with the injection applied."""
    dest = out / "trees" / name
    if dest.exists():
        return dest
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    for path, old, new in edits(name):
        text = (dest / path).read_text()
        if text.count(old) != 1:
            raise SystemExit(f"{name}: {path} does not hold the text to replace once: {old!r}")
        (dest / path).write_text(text.replace(old, new))
    return dest


def bench(out: Path, name: str, i: int, python: str, reference: Path | None) -> dict:
    """One pytest run of the selected cases, gated against ``reference`` as CI gates a run
    (``--benchmark-compare``, with its retest of speed regressions); its exit status and the
    gate's text."""
    tree = scratch(out, name)
    result = out / "runs" / f"{name}-{i}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COMPRESS_BENCH_OFFLINE": "1", "PYTHONHASHSEED": "0"}
    cases = [MODULE, "-k", SELECT]
    if name.startswith(("noise", "pooler", "error")):  # quality and size only: no timing
        cases = [MODULE, "-k", "test_mrpc_quality"]
    if name in ("skip", "aa-lstm"):
        cases = [MODULE, LSTM, "-k", f"{SELECT} or lstm"]
    if name == "skip":
        env.pop("WIKITEXT2_DIR", None)  # the LSTM case's data is missing
    if name == "nothing":
        env.pop("GLUE_DIR", None)  # no MRPC data: every case skips and nothing is saved
    gate = [] if reference is None else [f"--benchmark-compare={reference}"]
    cmd = [
        python,
        "-m",
        "pytest",
        *cases,
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-q",
        "-W",
        "ignore",
        f"--benchmark-json={result}",
        *gate,
    ]
    log = out / "logs" / f"{name}-{i}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        code = subprocess.run(
            cmd, cwd=tree, env=env, stdout=fh, stderr=subprocess.STDOUT
        ).returncode
    text = log.read_text()
    gated = text.split("compare against the baseline", 1)[-1] if gate else ""
    rows = [
        line
        for line in gated.splitlines()
        if "REGRESSION" in line
        or "FAILED" in line
        or "missing" in line
        or "retest" in line
        or "saved no" in line
    ]
    return {"run": f"{name}-{i}", "exit": code, "rows": rows, "saved": result.exists()}


def judge(out: Path, a: Path, b: Path, label: str) -> dict:
    """compress.compare of two saved runs without a retest: the single-run verdict."""
    code, text = run(load(a), load(b), Options())
    (out / "compare").mkdir(exist_ok=True)
    (out / "compare" / f"{label}.md").write_text(text)
    rows = [line for line in text.splitlines() if "REGRESSION" in line]
    return {"run": label, "exit": code, "rows": rows}


def pick_reference(out: Path) -> Path:
    """The reference is the median run of the ungated ones (``ref``): the one whose speedups are
    closest to the runs' medians, as a committed baseline should be recorded (docs/gate.md)."""
    runs = sorted((out / "runs").glob("ref-*.json"))
    speeds = {p: _speedups(p) for p in runs}
    keys = set.intersection(*(set(v) for v in speeds.values()))
    median = {k: statistics.median(speeds[p][k] for p in runs) for k in keys}
    best = min(runs, key=lambda p: sum(abs(math.log(speeds[p][k] / median[k])) for k in keys))
    shutil.copy2(best, out / "runs" / "reference.json")
    (out / "reference.txt").write_text(f"{best.name}: {speeds[best]} (medians {median})\n")
    return best


def _speedups(path: Path) -> dict[str, float]:
    out = {}
    for name, case in load(path).cases.items():
        for key, metric in (case.metrics if case else {}).items():
            if metric.unit == "x" and metric.samples is not None:
                out[f"{name} {key}"] = metric.value
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("plan", nargs="*", help="NAME:REPEATS (ref runs pick the reference)")
    p.add_argument("--table", action="store_true", help="print OUT's table and stop")
    p.add_argument("--python", default=sys.executable, help="the bench environment's python")
    args = p.parse_args()
    if args.table:
        print(table(args.out))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    ledger = args.out / "oc.json"
    done = json.loads(ledger.read_text()) if ledger.exists() else []
    for item in args.plan:
        name, _, repeats = item.partition(":")
        for i in range(int(repeats or 1)):
            label = f"{name}-{i}"
            if any(d["run"] == label for d in done):
                continue
            ungated = name in ("ref", "aa-lstm")
            ref = args.out / "runs" / ("aa-lstm-0.json" if name == "skip" else "reference.json")
            if not ungated and not ref.exists():
                pick_reference(args.out)
            done.append(bench(args.out, name, i, args.python, None if ungated else ref))
            ledger.write_text(json.dumps(done, indent=1))
            print(json.dumps(done[-1]), flush=True)
    aa = sorted((args.out / "runs").glob("ref-[0-9]*.json"))
    for a, b in itertools.combinations(aa, 2):  # every A/A pair, one run each, no retest
        label = f"pair-{a.stem}-{b.stem}"
        if not any(d["run"] == label for d in done):
            done.append(judge(args.out, a, b, label))
    ledger.write_text(json.dumps(done, indent=1))
    return 0


def table(out: Path) -> str:
    """The operating-characteristic rows of OUT as Markdown: per run, the realized change of
    the figure its injection targets (compress.compare without a retest) and the gate's
    verdict as the run itself gave it (with its retest)."""
    from compress.compare.judge import compare

    ledger = json.loads((out / "oc.json").read_text())
    lines = [
        "| run | bs1 speedup | bs8 speedup | F1 int8 (pts) | size | gate | rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in ledger:
        path = out / "runs" / f"{entry['run']}.json"
        ref = (
            out
            / "runs"
            / ("aa-lstm-0.json" if entry["run"].startswith("skip") else "reference.json")
        )
        cells = {"bs1": "", "bs8": "", "f1": "", "size": ""}
        if path.exists() and not entry["run"].startswith(("ref", "pair", "aa-lstm")):
            for r in compare(load(ref), load(path)):
                key = (
                    "bs1"
                    if "bs1-int8" in r.benchmark
                    else "bs8"
                    if "bs8-int8" in r.benchmark
                    else "q"
                )
                if r.metric == "speedup" and key in ("bs1", "bs8"):
                    cells[key] = r.change.split(" [")[0]
                elif r.metric == "f1_compressed" and key == "q":
                    cells["f1"] = f"{100 * (r.candidate - r.baseline):+.2f}"
                elif r.metric == "size_bytes" and key == "q":
                    cells["size"] = r.change
        gate = {0: "pass", 1: "FAIL", None: "(reference)"}.get(entry["exit"], str(entry["exit"]))
        why = "; ".join(_short(row) for row in entry.get("rows", []))[:300]
        lines.append(
            f"| {entry['run']} | {cells['bs1']} | {cells['bs8']} | {cells['f1']} | "
            f"{cells['size']} | {gate} | {why} |"
        )
    return "\n".join(lines)


def _short(row: str) -> str:
    parts = [p.strip() for p in row.strip("|").split("|")]
    if len(parts) >= 6:
        return f"{parts[0].replace('test_latency[minilm-l6-mrpc-', '')} {parts[1]}: {parts[5]}"
    return row.strip()[:120]


if __name__ == "__main__":
    raise SystemExit(main())
