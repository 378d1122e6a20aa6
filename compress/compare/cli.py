"""``python -m compress.compare BASELINE CANDIDATE``: the command line of compress.compare."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from compress.compare import judge as _compare
from compress.compare.judge import run_rows
from compress.compare.notes import summary
from compress.compare.reference import choose
from compress.compare.rules import Options, ProfileMismatch, profile_label
from compress.core.errors import InputError
from compress.measure.fingerprint import kind_of
from compress.verdict.resultfile import ResultFile, load

EXIT_STATUS = (
    "exit status: 0 no regression (inconclusive and not-comparable rows do not change it); "
    "1 regression (a failed, skipped or missing case too, unless --allow-missing), or a "
    "candidate that is the baseline itself (the run saved nothing new); 2 bad input (a file "
    "that cannot be read, a row saved before the typed result schema, another schema version, "
    "a metric without a direction) or files of different "
    "profiles: one line on stderr names the file and the row, nothing is compared."
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compress.compare",
        description=_compare.__doc__,
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "baseline",
        help="baseline result JSON, or a folder (results/): its committed *_baseline-<profile>"
        " file of the candidate's profile and ISA class",
    )
    p.add_argument("candidate", help="candidate result JSON")
    p.add_argument(
        "--no-time", action="store_true", help="skip what depends on the CPU: speed, times"
    )
    p.add_argument("--gate-latency", action="store_true", help="gate latency medians too")
    p.add_argument("--time-tol", type=float, default=0.15, help="with --gate-latency (0.15)")
    p.add_argument(
        "--gate-speed-anyway",
        action="store_true",
        help="gate speed figures across ISA classes and CPU kinds",
    )
    p.add_argument("--only", metavar="SUBSTRING", help="only benchmarks whose fullname has it")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="a partial run: cases missing or skipped in the candidate are not regressions",
    )
    p.add_argument(
        "--same-kind",
        action="store_true",
        help="with a folder: only a baseline (or local reference) of the candidate's CPU kind "
        "will do, so that speed is gated (exit 2 if none)",
    )
    p.add_argument("--show-info", action="store_true", help="also list ungated metrics")
    p.add_argument(
        "--html",
        metavar="PAGE",
        help="also write the comparison as a page: summary, regressions first, verdicts in colour",
    )
    return p


def _profile_message(exc: ProfileMismatch, baseline: str, candidate: str) -> str:
    other = exc.candidate if exc.candidate is not None else exc.baseline
    return (
        f"compare: not comparable: profile {profile_label(exc.baseline)} (baseline {baseline}) vs "
        f"{profile_label(exc.candidate)} (candidate {candidate}); compare runs of one profile "
        f"(re-record with --profile {other})"
    )


def _baseline_path(path: str, candidate: ResultFile, same_kind: bool) -> Path:
    """``path`` itself, or the reference a folder holds for the candidate (reference.choose)."""
    if not Path(path).is_dir():
        return Path(path)
    ref = choose(Path(path), candidate.profile, candidate.fingerprint, candidate.path)
    if same_kind and not ref.same_kind:
        raise InputError(path, f"no baseline of the candidate's CPU kind "
                         f"{kind_of(candidate.fingerprint)} (--same-kind)")  # fmt: skip
    return ref.path


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: print the comparison and return the exit status EXIT_STATUS states."""
    args = _parser().parse_args(argv)
    options = Options(
        time_tol=args.time_tol,
        include_time=not args.no_time,
        gate_latency=args.gate_latency,
        gate_speed_anyway=args.gate_speed_anyway,
        only=args.only,
        allow_missing=args.allow_missing,
        show_info=args.show_info,
    )
    try:
        candidate = load(args.candidate)
        baseline = load(_baseline_path(args.baseline, candidate, args.same_kind))
        code, text, rows = run_rows(baseline, candidate, options)
    except InputError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2
    except ProfileMismatch as exc:
        print(_profile_message(exc, args.baseline, args.candidate), file=sys.stderr)
        return 2
    print(f"baseline {baseline.path}, candidate {candidate.path}\n{text}")
    if args.html:
        from compress.compare.html import compare_page

        notes = summary(rows, baseline, candidate, options) if rows else text
        page = compare_page(rows, baseline, candidate, options, notes)
        Path(args.html).write_text(page, encoding="utf-8")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
