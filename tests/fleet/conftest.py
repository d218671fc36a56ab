# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet failure suite: ten nginx load balancers in podman containers, reached over SSH (issue #17).

One fleet (tests/lib/sshfleet.py) serves the whole session: every test leaves it on one colour
with every load balancer reachable and nginx running, and starts from whatever colour is live.
Needs root, podman and the image localhost/switchyard/debian12-lb-ssh (``make images``);
skipped with the reason otherwise.

Counts: SWITCHYARD_FLEET_CANCELS cancels per signal (default 3; ``make fleet`` runs 30),
SWITCHYARD_FLEET_LBS load balancers (default 10), SWITCHYARD_FLEET_SEED the random seed of
the cancel delays (default: drawn and printed).

Each test writes one JSON line to the fault layer's results file (build/fault-results/results.jsonl,
the format of tests/faults/conftest.py; appended, never truncated), so
``scripts/faults_report.py`` renders rows for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.lib import faultlog
from tests.lib.modules import BUILD
from tests.lib.sshfleet import Fleet, FleetError, fleet, usable

LBS = int(os.environ.get("SWITCHYARD_FLEET_LBS", "10"))
CANCELS = int(os.environ.get("SWITCHYARD_FLEET_CANCELS", "3"))
FULL = CANCELS >= 30
RESULTS = Path(os.environ.get("SWITCHYARD_FAULT_RESULTS", BUILD / "fault-results" / "results.jsonl"))
COLORS = ("blue", "green")


def pytest_collection_modifyitems(config, items):
    reason = usable()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"fleet suite: {reason}")
    for item in items:
        if "tests/fleet/" in item.nodeid.replace("\\", "/"):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    faultlog.keep_report(item, outcome.get_result())


# --------------------------------------------------------------------------- the fleet


class FleetLab:
    """The session's fleet plus the checks every test makes."""

    def __init__(self, lab: Fleet):
        self.lab = lab
        self.switch_duration_s: float | None = None

    def __getattr__(self, name):
        return getattr(self.lab, name)

    def live(self) -> str:
        """The one colour every load balancer serves (by HTTP); fails when they disagree or one is silent."""
        served = self.lab.served_colors()
        assert len(set(served.values())) == 1 and None not in served.values(), f"fleet is not on one colour: {served}"
        return next(iter(served.values()))

    def wait_quiet(self, timeout: float = 90) -> None:
        """Wait until no module runs on any load balancer (a cancelled job's remote processes finish on their own)."""
        def quiet():
            return all(not self.lab.exec(h, "pgrep -f '^/usr/bin/python3' || true", timeout=20).stdout.strip()
                       for h in self.lab.hosts)
        try:
            self.lab.wait_until(quiet, timeout, "the remote module processes of a cancelled run to end", interval=0.5)
        except TimeoutError:
            left = {h: self.lab.exec(h, "ps -eo pid,etimes,args | grep '[p]ython3' || true", timeout=20).stdout.strip()
                    for h in self.lab.hosts}
            raise AssertionError(f"module processes still run {timeout} s after the cancel: "
                                 f"{ {h: p for h, p in left.items() if p} }") from None

    def reunite_if_split(self) -> None:
        """Leave the fleet on one colour for the next test (after a failed one), with rollback.yml to lb1's colour."""
        served = self.lab.served_colors()
        if len(set(served.values())) > 1 and served[self.lab.hosts[0]]:
            self.lab.playbook("rollback.yml", "-e", f"bluegreen_rollback_to={served[self.lab.hosts[0]]}", timeout=400)

    def nginx_tests(self) -> dict[str, str]:
        """nginx -t on every load balancer: {host: output} of those that fail (empty when all pass)."""
        bad = {}
        for host in self.lab.hosts:
            proc = self.lab.nginx_test(host)
            if proc.returncode != 0:
                bad[host] = proc.stdout.strip()[-300:]
        return bad

    def status(self) -> tuple[subprocess.CompletedProcess, dict[str, str], list[str]]:
        """Run status.yml: (process, {host: colour shown}, summary lines)."""
        proc = self.lab.playbook("status.yml", timeout=240)
        return proc, status_colors(proc.stdout), status_lines(proc.stdout)


def status_lines(output: str) -> list[str]:
    """The summary block of status.yml's "Show the status" task."""
    match = re.search(r"TASK \[Show the status\].*?\"msg\": \[(.*?)\n\s*\]", output, re.S)
    if not match:
        return []
    return [json.loads(line.strip().rstrip(",")) for line in match.group(1).strip().splitlines() if line.strip()]


def status_colors(output: str) -> dict[str, str]:
    colors = {}
    for line in status_lines(output):
        found = re.match(r"router (\S+): (?:live (\w+)|(UNREACHABLE)|live SPLIT)", line)
        if found:
            colors[found.group(1)] = found.group(2) or (found.group(3) and "unreachable") or "split"
    return colors


def fatal_messages(output: str) -> list[str]:
    """The msg of every failed task (fatal lines) of an ansible-playbook run, and unreachable reasons."""
    messages = []
    for line in output.splitlines():
        if re.match(r"^(fatal|failed): \[", line) or "UNREACHABLE!" in line:
            host = re.match(r"^\w+: \[([^\]]+)\]", line)
            body = line.split("=>", 1)[1].strip() if "=>" in line else line
            try:
                msg = json.loads(body).get("msg", body)
            except ValueError:
                msg = body
            messages.append(f"{host.group(1) if host else '?'}: {msg}")
    return messages


@pytest.fixture(scope="session")
def fleet_lab():
    try:
        with fleet(LBS) as lab:
            print(f"\n[fleet] {LBS} load balancers ready: {lab.timings}")
            yield FleetLab(lab)
    except FleetError as exc:
        pytest.fail(f"the fleet lab could not start: {exc}")


@pytest.fixture(scope="session")
def switch_duration(fleet_lab):
    """How long one healthy switch of the whole fleet takes here (switch.yml to the idle colour), measured once."""
    target = "green" if fleet_lab.live() == "blue" else "blue"
    started = time.monotonic()
    proc = fleet_lab.playbook("switch.yml", "-e", f"bluegreen_target_color={target}", timeout=400)
    duration = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert fleet_lab.live() == target
    fleet_lab.switch_duration_s = round(duration, 2)
    print(f"\n[fleet] a healthy switch of {LBS} load balancers took {duration:.1f} s")
    return duration


# --------------------------------------------------------------------------- results (tests/faults' format)


@pytest.fixture
def fault_log(request):
    log = faultlog.FaultLog(request.node.nodeid)
    yield log
    # A test that stopped before saying what it tried (the lab did not start) leaves no row.
    faultlog.record(request, log, results=RESULTS, full=FULL, named_only=True,
                    reproduce=f"SWITCHYARD_FLEET_CANCELS={CANCELS} build/venv/bin/pytest '{log.nodeid}'")
