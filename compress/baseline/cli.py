"""``python -m compress.baseline record|list``: the command line of compress.baseline.

record [FILES ...] [--runs N] [--profile P] [--results DIR] [-- PYTEST_ARGS ...]
    Record a committed baseline: from FILES (runs of one profile and CPU kind), or from N runs
    of the benchmark suite (default 3; PYTEST_ARGS such as -k EXPR narrow them). Each case takes
    its median run by its speedups, among the runs in which it passed.
list [--results DIR] [--profile P]
    The committed baselines and local references, and which is of this machine's CPU kind.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compress.baseline.pick import median_limit_run, pick, speedups
from compress.baseline.store import (
    RunError,
    baseline_path,
    entries,
    machine_folder,
    run_suite,
)
from compress.core.errors import InputError
from compress.measure.fingerprint import kind_of, machine_fingerprint
from compress.verdict.resultfile import OUTCOMES_KEY, ResultFile, load

EXIT_STATUS = """exit status:
  0  done
  1  a run of the suite saved no result file, or no case passed in any run (nothing written)
  2  bad input: an unreadable file, runs of another profile or CPU kind, an injected run,
     no fingerprint, or bad arguments (nothing written)"""
DEFAULT_PROFILE = "quick"
DEFAULT_RUNS = 3
SHOWN = 4  # case names shown per picked run in the summary


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compress.baseline",
        description=__doc__,
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    record = sub.add_parser("record", help="record a baseline from runs (given, or run here)")
    record.add_argument("files", nargs="*", metavar="FILES", help="result JSON files to pick from")
    record.add_argument(
        "--runs", type=_at_least_one, help=f"without FILES: runs of the suite ({DEFAULT_RUNS})"
    )
    record.add_argument("--profile", help=f"the profile (without FILES: {DEFAULT_PROFILE})")
    record.add_argument("--results", default="results", help="results folder (./results)")
    listing = sub.add_parser("list", help="list committed baselines and local references")
    listing.add_argument("--results", default="results", help="results folder (./results)")
    listing.add_argument("--profile", help="only baselines of this profile")
    return p


def summary(doc: dict[str, Any], files: Sequence[ResultFile]) -> list[str]:
    """What ``pick`` kept, from which run, and what it left out, in a few lines."""
    info = doc[OUTCOMES_KEY]["baseline"]
    picked, left_out = info["picked"], info["left_out"]
    base = files[median_limit_run(files)]
    limit = (base.machine_info.get("int8_limit") or {}).get("speedup")
    lines = [
        f"{len(picked)} cases kept from {len(files)} run{'s' * (len(files) != 1)}, "
        f"{len(left_out)} left out; machine "
        f"info from {base.path.name}" + (f" (the median int8 limit, {limit:.2f}x)" if limit else "")
    ]
    by_run: dict[int, list[str]] = {}
    for name, i in picked.items():
        if speedups(files[i], name):
            by_run.setdefault(i, []).append(name.rsplit("::", 1)[-1])
    for i, names in sorted(by_run.items()):
        more = f", +{len(names) - SHOWN} more" if len(names) > SHOWN else ""
        lines.append(
            f"  {files[i].path.name}: median run of {len(names)} speedup cases: "
            f"{', '.join(names[:SHOWN])}{more}"
        )
    if left_out:
        lines.append(f"left out (passed in no run): {', '.join(left_out)}")
    return lines


def _write(files: list[ResultFile], args: argparse.Namespace, sources: list[Path]) -> int:
    for run in files:  # --profile names what is wanted: runs of another one are refused
        if args.profile is not None and run.profile != args.profile:
            raise InputError(run.path, f"profile {run.profile!r}, not --profile {args.profile!r}")
    doc = pick(files)
    if not doc["benchmarks"]:
        print("baseline: error: no case passed in any run; nothing written", file=sys.stderr)
        return 1
    results = Path(args.results)
    folder = machine_folder(sources, results)
    path = baseline_path(results, folder, str(files[0].profile), str(kind_of(files[0].fingerprint)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as fh:  # "x": never overwrite a baseline
        fh.write(json.dumps(doc, indent=4) + "\n")
    print("\n".join(summary(doc, files)))
    print(f"wrote {path}\ngit add -f {path}")
    return 0


def _record(args: argparse.Namespace, pytest_args: list[str]) -> int:
    if args.files:
        sources = [Path(f) for f in args.files]
        return _write([load(p) for p in sources], args, sources)
    profile = args.profile or DEFAULT_PROFILE
    with tempfile.TemporaryDirectory(prefix="compress-baseline-") as tmp:
        try:
            paths = run_suite(args.runs or DEFAULT_RUNS, profile, pytest_args, Path(tmp))
        except RunError as exc:
            print(f"baseline: error: {exc}; nothing written", file=sys.stderr)
            return 1
        return _write([load(p) for p in paths], args, [])


def _list(args: argparse.Namespace) -> int:
    found = entries(Path(args.results), args.profile)
    for entry in found:
        print(entry.line())
    kind = kind_of(machine_fingerprint())
    mine = [str(e.path) for e in found if e.kind == kind]
    if mine:
        print(f"of this machine's kind ({kind}): {', '.join(mine)}")
    else:
        what = "none of them is" if found else f"no baselines under {args.results}, so none is"
        print(f"{what} of this machine's kind ({kind})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: run ``record`` or ``list`` and return the exit status EXIT_STATUS states."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:  # what follows goes to pytest untouched (argparse would take it as FILES)
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1 :]
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "record" and args.files and (pytest_args or args.runs is not None):
        parser.error("--runs and arguments after -- are for record without FILES")
    if args.command == "list" and pytest_args:
        parser.error("arguments after -- are for record")
    try:
        return _record(args, pytest_args) if args.command == "record" else _list(args)
    except InputError as exc:
        print(f"baseline: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
