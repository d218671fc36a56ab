# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cancelled fleet switch: SIGTERM (AWX's cancel) or SIGKILL to ansible-playbook at a random point (issue #17).

Each run: switch.yml to the idle colour starts; after a random delay, drawn between 0.5 s and the
measured duration of one healthy switch of the same fleet - or, every other run, between 0 and 1 s
after the commit task started (the window in which a cancel can split the fleet) - the whole
process group gets the signal (seed printed and recorded). Then:
  - the modules still running on the load balancers are allowed to end (a commit already sleeping
    until its instant still happens: the controller is gone, the host is not);
  - status.yml must report exactly the colour each load balancer serves (checked by HTTP against
    every one) and say SPLIT FLEET first when they disagree;
  - one run reunites the fleet: the command status.yml printed for a split, else switch.yml to the
    cancelled run's target (which finishes it, or changes nothing when it already had);
  - afterwards every load balancer serves one colour, nginx -t passes on each, and that run was not
    blocked by anything the cancelled one left (lock, stage record).
Counts: SWITCHYARD_FLEET_CANCELS per signal (3 in make test, 30 in make fleet).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time

import pytest

from .conftest import CANCELS, LBS

CATEGORY = f"fleet over SSH ({LBS} nginx LBs): cancelled switch.yml"
COMMIT_TASK = "Commit on every load balancer"
COMMIT_WINDOW_S = 1.0
SEED = int(os.environ.get("SWITCHYARD_FLEET_SEED", str(random.SystemRandom().randrange(1, 10**6))))


def phase_of(log: str) -> str:
    """Where the run was when it was killed: the last task it started."""
    tasks = re.findall(r"^TASK \[(.*?)\]", log, re.M)
    if not tasks:
        return "before the first task"
    task = tasks[-1]
    lowered = task.lower()
    for key, name in (("stage", "stage"), ("hold", "hold"), ("commit", "commit"), ("put every", "put back"),
                      ("smoke", "smoke test"), ("precheck", "precheck"), ("probe", "precheck"),
                      ("verif", "verify"), ("publish", "publish"), ("read the", "detect"), ("decide", "detect")):
        if key in lowered:
            return f"{name} ({task})"
    return f"other ({task})"


def cancel_once(lab, sig, delay: float, run: int, problems: list[str], *, anchor: str | None = None) -> dict:
    """One cancelled switch, its status and the run that reunites the fleet; problems found are appended.

    anchor: count the delay from the start of the task whose name contains it (else from the playbook's start).
    """
    old = lab.live()
    target = "green" if old == "blue" else "blue"
    record = {"run": run, "delay_s": round(delay, 2), "from": old, "to": target,
              "delay_from": f"task '{anchor}'" if anchor else "playbook start"}
    started = time.monotonic()
    proc = lab.start_playbook("switch.yml", "-e", f"bluegreen_target_color={target}")
    if anchor:
        lab.wait_until(lambda: anchor in proc.log.read_text() or proc.poll() is not None, 400,
                       f"the task {anchor!r}", interval=0.02)
    try:
        ended = lab.wait_until(lambda: proc.poll() is not None, delay, "", interval=0.02)
    except TimeoutError:
        ended = False
    if not ended:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:  # a SIGTERM the playbook ignores for a minute: then SIGKILL
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        record["needed_sigkill"] = True
    record["killed_in"] = "finished before the signal" if ended else phase_of(proc.log.read_text())
    record["rc"] = proc.returncode
    # AWX tears down a cancelled job's execution environment, and the job's ssh masters with it; a master
    # left alive holds the sessions of the killed run (a python3 waiting for a module that never came).
    lab.lab.close_masters()
    lab.wait_quiet()
    record["cancelled_run_s"] = round(time.monotonic() - started, 1)

    served = lab.served_colors()
    record["served"] = served
    split = len(set(served.values())) > 1
    record["split"] = split
    meaning = {old: "old colour", target: "new colour"}
    record["left"] = "split" if split else meaning.get(next(iter(served.values())), "no answer")
    _status, colors, lines = lab.status()
    record["status_first_line"] = lines[0] if lines else None
    if colors != served:
        problems.append(f"run {run}: status.yml shows {colors}, the LBs serve {served}")
    if split != bool(lines and lines[0].startswith("SPLIT FLEET")):
        problems.append(f"run {run}: split={split} but status.yml's first line is {lines[:1]}")

    # One run reunites the fleet: the command status.yml printed for a split, else finish the switch.
    started = time.monotonic()
    match = re.search(r"ansible-playbook playbooks/rollback\.yml -e bluegreen_rollback_to=(\w+)",
                      lines[0] if lines else "")
    if split and match:
        command = ("rollback.yml", "-e", f"bluegreen_rollback_to={match.group(1)}")
    else:
        command = ("switch.yml", "-e", f"bluegreen_target_color={target}")
    reunite = lab.playbook(*command, timeout=400)
    record.update(reunite=" ".join(command), reunite_rc=reunite.returncode,
                  reunite_s=round(time.monotonic() - started, 1))
    after = lab.served_colors()
    record["after"] = sorted({str(color) for color in after.values()})
    bad = lab.nginx_tests()
    if reunite.returncode != 0:
        problems.append(f"run {run}: {record['reunite']} failed (rc {reunite.returncode}): {reunite.stdout[-1500:]}")
    if len(set(after.values())) != 1 or None in after.values():
        problems.append(f"run {run}: not reunited: {after}")
    if bad:
        problems.append(f"run {run}: nginx -t fails on {bad}")
    return record


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGKILL"])
def test_cancelled_switch_is_reported_and_one_run_reunites_the_fleet(
        fleet_lab, switch_duration, fault_log, signame):
    lab = fleet_lab
    sig = getattr(signal, signame)
    rng = random.Random(f"{SEED}-{signame}")
    fault_log.set(CATEGORY, f"{signame} to ansible-playbook's process group at a random point of switch.yml",
                  "status.yml names each LB's colour (as served) and flags a split; one run of switch.yml or "
                  "rollback.yml reunites all LBs; nginx -t passes everywhere; nothing blocks the next run")
    fault_log.measured["how"] = (f"{CANCELS} runs, alternately a delay uniform(0.5, {switch_duration:.1f} s = one "
                                 f"healthy switch) from the start and uniform(0, {COMMIT_WINDOW_S} s) from the start "
                                 f"of the commit task; seed {SEED} (SWITCHYARD_FLEET_SEED)")
    runs, problems = [], []
    print(f"\n[fleet] {signame}: {CANCELS} cancels, seed {SEED}")
    try:
        run_cancels(lab, sig, signame, rng, switch_duration, runs, problems)
    except BaseException:
        lab.reunite_if_split()
        raise
    finally:
        record_outcome(fault_log, runs, problems)
    assert not problems, "\n".join(problems)
    assert len(runs) == CANCELS


def run_cancels(lab, sig, signame, rng, switch_duration, runs, problems) -> None:  # noqa: PLR0917
    for index in range(CANCELS):
        # A random point of the whole switch, and every other run (SIGKILL first) a random point of the second
        # after the commit task started: the only window that can split the fleet (well under a second of a
        # 20-40 s run here), which a delay drawn over the whole run would rarely hit.
        if (index + (signame == "SIGKILL")) % 2 == 1:
            record = cancel_once(lab, sig, rng.uniform(0.0, COMMIT_WINDOW_S), index + 1, problems, anchor=COMMIT_TASK)
        else:
            record = cancel_once(lab, sig, rng.uniform(0.5, switch_duration), index + 1, problems)
        record["signal"] = signame
        runs.append(record)
        print(f"[fleet] {signame} run {index + 1}: delay {record['delay_s']} s from {record['delay_from']},"
              f" killed in {record['killed_in']}, "
              f"left {record['left']}, reunited by {record['reunite']} rc {record['reunite_rc']}"
              f" in {record['reunite_s']} s")
        if problems:
            break


def record_outcome(fault_log, runs, problems) -> None:
    fault_log.runs = len(runs)
    left: dict[str, int] = {}
    for record in runs:
        left[record["left"]] = left.get(record["left"], 0) + 1
    phases: dict[str, int] = {}
    for record in runs:
        phase = record["killed_in"].split(" (")[0]
        phases[phase] = phases.get(phase, 0) + 1
    fault_log.measured.update({
        "cancels": runs,
        "problems": problems,
        "final_states": (f"killed in {phases}; left on {left}; "
                         f"reunited by one run {sum(1 for r in runs if r['reunite_rc'] == 0)} of {len(runs)}"),
        "rerun": "; ".join(f"{r['reunite']} {r['reunite_s']} s" for r in runs)[:400],
    })
