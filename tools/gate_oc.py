"""The regression gate's operating characteristic, measured through the real suite (docs/gate.md).

Each run is a fresh ``pytest benchmarks/test_quantize_dynamic.py -k ...`` of the MRPC MiniLM
cases (int8 latency at length 128, batch 1 and 8; MRPC test quality), gated against a
reference exactly as CI gates a run (``--benchmark-compare=REF``: the real conftest, settings,
plugin and retest). A regression is one real cause applied by the suite's own ``--inject``
(fixtures/plugins/inject.py), or, for the cases that must go missing or error, an edit of a
scratch copy of the tree. Nothing here edits the suite.

    python tools/gate_oc.py OUT ref:3 aa:5 hook-2:3 slow-15:3 hook-10:3 ffn-1:3 noise-0.15-1:1 ...
    python tools/gate_oc.py OUT --table
    python tools/gate_oc.py OUT --check REF       # CI: the gate must catch and must pass

``ref:N`` runs N unchanged, ungated runs and makes the reference of them as a baseline is made
(``compress.baseline.pick``: the median run per case). OUT gets runs/, logs/ and oc.json (per
run: the gate's exit status and the rows that regressed). ``--check REF`` runs ``slow-15``
(a debugging hook costing 15% of the int8 forward on the CPU running it: -11.7% to -17.6% on
MiniLM at length 128, batch 1, on the EPYC without AVX-VNNI), an
unchanged rerun and ``noise-0.15-1`` (-1.17 pt F1 on MRPC test) against REF, and exits 1
unless the first and last fail the gate (the slowdown confirmed by its retest) and the rerun
passes: the gate blind or crying wolf fails CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compress.baseline.pick import pick  # noqa: E402
from compress.compare.judge import compare  # noqa: E402
from compress.verdict.resultfile import load  # noqa: E402

MODULE = "benchmarks/test_quantize_dynamic.py"
SPEED = "minilm-l6-mrpc-seq128"
QUALITY = "test_mrpc_quality"
CHECK = (("slow-15", "speed"), ("aa", None), ("noise-0.15-1", "quality"))


def plan_of(name: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(pytest arguments, scratch-tree edits) of the run ``name``."""
    kind, _, arg = name.partition("-")
    speed, quality = [MODULE, "-k", SPEED], [MODULE, "-k", QUALITY]
    if kind in ("ref", "aa"):
        return [MODULE, "-k", f"{SPEED} or {QUALITY}"], []
    if kind == "hook":  # a debugging hook left on the int8 model: N histc passes per forward
        return [*speed, "--inject", f"hook:{arg}"], []
    if kind == "slow":  # the same hook, its passes costing ARG% of the int8 forward on this CPU
        return [*speed, "--inject", f"slow:{arg}"], []
    if kind == "ffn":  # the first K encoder layers' FFN Linears left fp32: slower and larger
        return [MODULE, "-k", f"{SPEED} or {QUALITY}", "--inject", f"fp32-ffn:{arg}"], []
    if kind == "noise":  # int8 of perturbed weights (SIGMA-SEED): answers lost
        sigma, _, seed = arg.partition("-")
        return [*quality, "--inject", f"noise:{sigma}:{seed or 0}"], []
    if kind == "pooler":  # the pooler kept fp32: +0.75% checkpoint, speed unchanged
        return [*quality, "--inject", "keep-fp32:bert.pooler.dense"], []
    if kind == "deleted":  # a case removed from the parametrization
        old = '    *(SpeedCase(m, 128, b) for m in ("minilm-l6-mrpc", "bert-base-random-init") '
        return speed, [(MODULE, old + "for b in (1, 8)),\n", old + "for b in (1,)),\n")]
    anchor = "    run = new_case(\n        config=clf.quant_config.to_dict(),\n"
    if kind == "error":  # the quality case crashes after its fixtures were built
        crash = "    clf.int8.no_such_attribute  # noqa: B018\n"
        return quality, [(MODULE, anchor, crash + anchor)]
    if kind == "skip":  # the quality case skips, as for missing data
        return quality, [(MODULE, anchor, '    pytest.skip("data missing")\n' + anchor)]
    raise ValueError(f"unknown run {name!r}")


def scratch(out: Path, name: str, edits: list[tuple[str, str, str]]) -> Path:
    """The tree a run uses: this one, or a copy with ``edits`` applied."""
    if not edits:
        return ROOT
    dest = out / "trees" / name
    if not dest.exists():
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                                check=True, capture_output=True, text=True)  # fmt: skip
        for rel in listed.stdout.split():
            if (ROOT / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
        for path, old, new in edits:
            text = (dest / path).read_text()
            if text.count(old) != 1:
                raise SystemExit(f"{name}: {path} does not hold the text to replace once")
            (dest / path).write_text(text.replace(old, new))
    return dest


def bench(out: Path, name: str, i: int, python: str, reference: Path | None) -> dict:
    """One pytest run gated against ``reference`` (None: ungated): its exit status and rows."""
    args, edits = plan_of(name)
    result = out / "runs" / f"{name}-{i}.json"
    log = out / "logs" / f"{name}-{i}.log"
    for folder in (result.parent, log.parent):
        folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    gate = [] if reference is None else [f"--benchmark-compare={reference.resolve()}"]
    cmd = [python, "-m", "pytest", *args, "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
           "-W", "ignore", f"--benchmark-json={result.resolve()}", *gate]  # fmt: skip
    with log.open("w") as fh:
        tree = scratch(out, name, edits)
        done = subprocess.run(cmd, cwd=tree, env=env, stdout=fh, stderr=subprocess.STDOUT)
    code = done.returncode
    gated = log.read_text().split("compare against the baseline", 1)[-1] if gate else ""
    marks = ("REGRESSION", "FAILED", "missing", "retest", "saved no", "not compared")
    rows = [line for line in gated.splitlines() if any(m in line for m in marks)]
    return {"run": f"{name}-{i}", "exit": code, "rows": rows, "saved": result.exists()}


def make_reference(out: Path) -> Path:
    """The reference of the ``ref`` runs, picked as a committed baseline is."""
    runs = [load(p) for p in sorted((out / "runs").glob("ref-*.json"))]
    target = out / "runs" / "reference.json"
    target.write_text(json.dumps(pick(runs), indent=1, default=str))
    return target


def measure(out: Path, plan: list[str], python: str, reference: Path | None) -> list[dict]:
    """Run ``plan`` (NAME:REPEATS), resuming OUT's ledger; the ledger's entries."""
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / "oc.json"
    done = json.loads(ledger.read_text()) if ledger.exists() else []
    for item in plan:
        name, _, repeats = item.partition(":")
        for i in range(int(repeats or 1)):
            if any(d["run"] == f"{name}-{i}" for d in done):
                continue
            ref = None
            if name != "ref":
                ref = reference or out / "runs" / "reference.json"
                if reference is None and not ref.exists():
                    ref = make_reference(out)
                if not ref.exists():
                    raise SystemExit(f"{ref}: no such reference")
            done.append(bench(out, name, i, python, ref))
            ledger.write_text(json.dumps(done, indent=1))
            print(json.dumps(done[-1]), flush=True)
    return done


def check(out: Path, reference: Path, python: str) -> int:
    """CI's power check: 0 when the gate catches both causes and passes the rerun."""
    done = {d["run"]: d for d in measure(out, [f"{n}:1" for n, _ in CHECK], python, reference)}
    failures = []
    for name, expected in CHECK:
        entry = done[f"{name}-0"]
        confirmed = any("REGRESSION (retest" in row for row in entry["rows"])
        if expected is None and entry["exit"] != 0:
            failures.append(f"{name}: an unchanged rerun failed the gate (crying wolf)")
        elif expected == "speed" and (entry["exit"] != 1 or not confirmed):
            failures.append(f"{name}: the gate did not catch the slowdown, confirmed by retest")
        elif expected == "quality" and (
            entry["exit"] != 1 or not any("REGRESSION" in row for row in entry["rows"])
        ):
            failures.append(f"{name}: the gate did not catch the quality loss")
    for line in table(out, reference).splitlines():
        print(line)
    print("\n".join(failures) or "gate power: slowdown and quality loss caught, rerun passed")
    return 1 if failures else 0


def table(out: Path, reference: Path | None = None) -> str:
    """OUT's runs as Markdown: each run's realized change against the reference (compare, no
    retest: batch 1 and 8 speedups, F1 on MRPC test, checkpoint size) and the gate's verdict
    as the run gave it (retest included), with the rows behind it."""
    ref = load(reference or out / "runs" / "reference.json")
    lines = ["| run | bs1 speedup | bs8 speedup | F1 int8 (pts) | size | gate | rows |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for entry in json.loads((out / "oc.json").read_text()):
        path = out / "runs" / f"{entry['run']}.json"
        cells = _changes(ref, path) if path.exists() else {}
        gate = {0: "pass", 1: "FAIL"}.get(entry["exit"], str(entry["exit"]))
        gate = "(ungated: makes the reference)" if entry["run"].startswith("ref-") else gate
        rows = "; ".join(_short(row) for row in entry.get("rows", []))
        got = [cells.get(k, "") for k in ("bs1", "bs8", "f1", "size")]
        lines.append(f"| {entry['run']} | {' | '.join(got)} | {gate} | {rows[:400]} |")
    return "\n".join(lines)


def _changes(reference, path: Path) -> dict[str, str]:
    cells = {}
    for r in compare(reference, load(path)):
        batch = next((b for b in ("bs1", "bs8") if f"seq128-{b}-int8" in r.benchmark), None)
        if r.metric == "speedup" and batch:
            cells[batch] = r.change.split(" [")[0]
        elif r.metric == "f1_compressed" and QUALITY in r.benchmark:
            cells["f1"] = f"{100 * (r.candidate - r.baseline):+.2f}"
        elif r.metric == "size_bytes" and QUALITY in r.benchmark:
            cells["size"] = r.change
    return cells


def _short(row: str) -> str:
    parts = [p.strip() for p in row.strip("|").split("|")]
    if len(parts) >= 6:
        return f"{parts[0].replace('test_latency[minilm-l6-mrpc-', '')} {parts[1]} {parts[4]}: " + \
            parts[5]  # fmt: skip
    return row.strip()[:160]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("plan", nargs="*", help="NAME:REPEATS (ref runs make the reference)")
    p.add_argument("--table", action="store_true", help="print OUT's table and stop")
    p.add_argument("--check", type=Path, metavar="REF", help="CI's power check against REF")
    p.add_argument("--reference", type=Path, help="gate the plan against this file")
    p.add_argument("--python", default=sys.executable, help="the bench environment's python")
    args = p.parse_args()
    if args.table:
        print(table(args.out, args.reference))
        return 0
    if args.check:
        return check(args.out, args.check, args.python)
    measure(args.out, args.plan, args.python, args.reference)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
