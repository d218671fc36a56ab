# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault results format shared by tests/faults and tests/fleet (rendered by scripts/faults_report.py).

A suite's conftest keeps each test's reports (``keep_report`` from its ``pytest_runtest_makereport``
hook) and gives tests a ``FaultLog``; after the test, ``record`` appends one JSON line: what was tried,
what was expected, what was measured, and the outcome.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

REPORTS = pytest.StashKey[dict]()


class FaultLog:
    """What one test tried: the fault, how many runs, what it measured."""

    def __init__(self, nodeid: str):
        self.nodeid = nodeid
        self.fault = None
        self.category = None
        self.runs = 0
        self.expected = None
        self.measured: dict = {}
        self.started = time.monotonic()

    def set(self, category: str, fault: str, expected: str) -> None:
        self.category, self.fault, self.expected = category, fault, expected

    def count(self, key: str, amount: int = 1) -> None:
        self.measured[key] = self.measured.get(key, 0) + amount


def keep_report(item, report) -> None:
    """For a conftest's pytest_runtest_makereport hook: remember the test's setup/call/teardown reports."""
    item.stash.setdefault(REPORTS, {})[report.when] = report


def _outcome(reports: dict) -> str:
    call = reports.get("call")
    if call is None:
        return reports.get("setup").outcome if reports.get("setup") else "error"
    if call.outcome == "skipped" and hasattr(call, "wasxfail"):
        return "xfailed"
    if call.outcome == "passed" and hasattr(call, "wasxfail"):
        return "xpassed"
    return call.outcome


def record(request, log: FaultLog, *, results: Path, full: bool, reproduce: str, named_only: bool = False) -> None:
    """Append the test's result line to ``results``. ``named_only``: nothing for a test that never called set()."""
    if named_only and log.category is None:
        return
    reports = request.node.stash.get(REPORTS, {})
    call = reports.get("call")
    outcome = _outcome(reports)
    skip_reason = None
    if outcome == "skipped":
        report = call or reports.get("setup")
        longrepr = getattr(report, "longrepr", None)
        skip_reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    failure = None
    if outcome in ("failed", "xfailed", "error") and call is not None:
        # The assertion line of the failure, for the report.
        lines = [line for line in call.longreprtext.splitlines() if line.startswith("E ")]
        failure = " ".join(line[1:].strip() for line in lines[:3])[:600] or None
    line = {
        "nodeid": log.nodeid,
        "category": log.category,
        "fault": log.fault,
        "expected": log.expected,
        "runs": log.runs,
        "measured": log.measured,
        "outcome": outcome,
        "skip_reason": skip_reason,
        "xfail_reason": getattr(call, "wasxfail", None) or None,
        "failure": failure,
        "seconds": round(time.monotonic() - log.started, 2),
        "full": full,
        "reproduce": reproduce,
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")
