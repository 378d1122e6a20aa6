"""What counts against a run that is incomplete: a baseline case the candidate did not run,
and the candidate's tests that failed, errored or were skipped (compress.compare.judge).

The outcomes are the plugin's words as the result file keeps them (fixtures/plugins/gate.py):
"passed", "failed: ...", "error: ...", "skipped: <reason>".
"""

from __future__ import annotations

from compress.report.compare_table import Row
from compress.verdict.resultfile import ResultFile
from compress.verdict.status import Pseudo, Status, Verdict


def _status(outcome: str) -> Status | None:
    """FAILED for a failed or errored test, MISSING for a skipped one, None otherwise."""
    word = outcome.partition(":")[0]
    if word in ("failed", "error"):
        return Status.FAILED
    return Status.MISSING if word == "skipped" else None


def _passed(outcome: str) -> bool:
    return outcome.partition(":")[0] == "passed"


def absent_rows(full: str, name: str, candidate: ResultFile) -> list[Row]:
    """A baseline benchmark the candidate has no row for: failed, skipped or not run."""
    outcome = candidate.outcomes.get(full)
    if outcome is None or _passed(outcome):
        verdict = Verdict(Status.MISSING, "not run")
    else:
        verdict = Verdict(_status(outcome) or Status.MISSING, outcome)
    return [Row(full, name, Pseudo.BENCHMARK, None, None, verdict)]


def outcome_rows(baseline: ResultFile, candidate: ResultFile, only: str | None) -> list[Row]:
    """Tests of the run that failed or were skipped where the baseline's passed, whether or not
    they time anything (a case that errors after timing still saves its row); ``only``: the
    tests whose id holds it."""
    rows = []
    for test, outcome in candidate.outcomes.items():
        if only is not None and only not in test:
            continue
        status = _status(outcome)
        skipped = status is Status.MISSING and _passed(baseline.outcomes.get(test, "passed"))
        if status is Status.FAILED or skipped:
            name = test.rsplit("::", 1)[-1]
            rows.append(Row(test, name, Pseudo.OUTCOME, None, None, Verdict(status, outcome)))
    return rows
