# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""SIGKILL the nginx_upstream process at random points of a switch, with traffic flowing.

Each round starts a real module process (the way Ansible runs it), kills its whole
process group (the module and any nginx -T / reload child) after a random delay in
[0, typical duration], and then checks: `nginx -t` passes, the managed file is byte for
byte the old one or a complete new one, and a later run of the same switch converges
(traffic on the requested colour). A client opening a new connection per request runs
through the load balancer the whole time and must see no 5xx.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import (
    SETTINGS_KEYS,
    render_body,
    split_file,
)

from .conftest import (
    KILLS,
    UPSTREAM,
    TrafficClient,
    module_payload,
    start_module,
    wait_for_single_generation,
)

PHASE_DONE = "finished before the kill"
PHASE_BEFORE_WRITE = "before the write (file untouched)"
PHASE_DURING_WRITE = "during the write (temp file left)"
PHASE_AFTER_WRITE = "after the write, before the reload"
PHASE_AFTER_RELOAD = "after the reload (confirm or drain)"


def file_state(data: bytes | None, old: bytes, target: str) -> str:
    """'old', 'new' (complete, consistent, on target) or 'other' (partial, foreign, missing)."""
    if data == old:
        return "old"
    if data is None:
        return "other"
    metadata, body = split_file(data.decode("utf-8", errors="replace"))
    if metadata is None or metadata.get("active") != target:
        return "other"
    try:
        consistent = render_body({key: metadata[key] for key in SETTINGS_KEYS}) == body
    except (KeyError, TypeError, ValueError):
        consistent = False
    return "new" if consistent else "other"


def temp_leftovers(lab) -> list[str]:
    return sorted(p.name for p in lab.path.parent.glob(f".{lab.path.name}.*.tmp"))


def run_to_end(lab, target: str) -> tuple[float, float]:
    """One uninterrupted switch in a separate process: (wall time from process start to exit,
    the module's own total_ms in seconds, i.e. the part after interpreter start and argument parsing)."""
    start = time.monotonic()
    proc = start_module("nginx_upstream")
    stdout, stderr = proc.communicate(module_payload(lab.args(active=target)), timeout=60)
    assert proc.returncode == 0, (stdout, stderr)
    return time.monotonic() - start, json.loads(stdout)["timings"]["total_ms"] / 1000


def kill_once(lab, target: str, delay: float) -> tuple[str, str, bytes | None]:
    """Start a switch to ``target``, SIGKILL its process group after ``delay`` s; (phase, file state, file bytes)."""
    wait_for_single_generation(lab.nginx)
    old = lab.file_bytes()
    workers_before = lab.nginx.worker_pids()
    leftovers_before = set(temp_leftovers(lab))
    proc = start_module("nginx_upstream")
    proc.stdin.write(module_payload(lab.args(active=target)))
    proc.stdin.close()
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    # A reload signal sent just before the kill still takes effect: give nginx time to act on it.
    time.sleep(0.2)
    data = lab.file_bytes()
    state = file_state(data, old, target)
    if not killed:
        phase = PHASE_DONE
    elif set(temp_leftovers(lab)) - leftovers_before:
        phase = PHASE_DURING_WRITE
    elif state == "old":
        phase = PHASE_BEFORE_WRITE
    elif lab.nginx.worker_pids() - workers_before:
        phase = PHASE_AFTER_RELOAD
    else:
        phase = PHASE_AFTER_WRITE
    return phase, state, data


def test_sigkill_at_random_points_of_a_switch(lab, fault_log):
    fault_log.set("nginx_upstream: process killed", f"SIGKILL of the switching process group at a random delay "
                  f"until {KILLS} runs were killed, client on new connections throughout",
                  "nginx -t passes; file old or new (never partial); re-run converges; no 5xx")
    rng = random.Random(int(os.environ.get("SWITCHYARD_FAULT_SEED", "20261127")))
    traffic = TrafficClient(lab.nginx.ports[UPSTREAM]).start()
    phases: dict[str, int] = {}
    problems: list[str] = []
    unconverged_after_write: list[int] = []
    try:
        # Typical duration of a whole switch, process start to exit (the kill window).
        samples = [run_to_end(lab, colour) for colour in ("green", "blue", "green", "blue", "green", "blue")]
        typical = sorted(wall for wall, _work in samples)[len(samples) // 2]
        work = sorted(work for _wall, work in samples)[len(samples) // 2]
        fault_log.measured["typical_switch_s"] = round(typical, 3)
        fault_log.measured["typical_work_s"] = round(work, 3)
        round_no = 0
        # Count kills, not rounds: a run that finished before its delay ran out is not a kill.
        while sum(count for phase, count in phases.items() if phase != PHASE_DONE) < KILLS and round_no < 3 * KILLS:
            round_no += 1
            target = "green" if split_file(lab.path.read_text())[0]["active"] == "blue" else "blue"
            # Half of the kills anywhere in [0, typical], half inside the module's own work
            # (lock, write, nginx -T, reload, drain), which is the short tail of the process's life.
            low = max(0.0, typical - work - 0.03) if round_no % 2 else 0.0
            phase, state, data = kill_once(lab, target, rng.uniform(low, typical))
            phases[phase] = phases.get(phase, 0) + 1
            where = f"round {round_no} ({phase})"
            check = lab.nginx.test_config()
            if check.returncode != 0:
                problems.append(f"{where}: nginx -t failed: {check.stderr}")
            if state == "other":
                problems.append(f"{where}: managed file is neither old nor new: {data!r}")

            # The operator's recovery: run the same switch again.
            again = lab.switch(active=target)
            fault_log.runs += 1
            if again.failed:
                problems.append(f"{where}: re-run failed: {again.get('msg')}")
                continue
            if temp_leftovers(lab):
                problems.append(f"{where}: the re-run left temp files behind: {temp_leftovers(lab)}")
            wait_for_single_generation(lab.nginx)
            live = lab.live(6)
            if live == {target: 6}:
                continue
            if phase == PHASE_AFTER_WRITE:
                unconverged_after_write.append(round_no)
            problems.append(f"{where}: after the re-run traffic is {live}, not {target}")
    finally:
        summary = traffic.stop()
    fault_log.measured.update({
        "kills": sum(count for phase, count in phases.items() if phase != PHASE_DONE),
        "phases": phases,
        "traffic": summary,
        "temp_files_left": len(temp_leftovers(lab)),
        "not_converged_after_write_before_reload": len(unconverged_after_write),
        "problems": problems[:20],
    })
    assert not problems, "\n".join(problems)
    assert fault_log.measured["kills"] >= KILLS, phases
    assert traffic.server_errors == 0, summary
    assert not summary["connection_errors"], summary
    assert summary["requests"] > KILLS, summary


def test_rerun_after_kill_between_write_and_reload_reloads(lab, fault_log):
    """Deterministic kill in the window after the write: the reload command is a long sleep."""
    fault_log.set("nginx_upstream: process killed",
                  "SIGKILL after the new file was written and tested, before the reload took effect; then re-run",
                  "re-run reloads nginx so traffic reaches the requested colour")
    old = lab.file_bytes()
    proc = start_module("nginx_upstream")
    proc.stdin.write(module_payload(lab.args(active="green", reload_command=["sleep", "30"])))
    proc.stdin.close()
    deadline = time.monotonic() + 20
    while file_state(lab.file_bytes(), old, "green") != "new" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the module is now inside the reload command (sleep 30)
    assert proc.poll() is None, "the module finished although its reload command sleeps 30 s"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    fault_log.runs = 1
    assert lab.nginx.test_config().returncode == 0
    assert file_state(lab.file_bytes(), old, "green") == "new"
    assert lab.live(6) == {"blue": 6}, "nginx was not reloaded, blue must still be live"

    again = lab.switch(active="green")
    assert not again.failed, again
    wait_for_single_generation(lab.nginx)
    fault_log.measured["rerun"] = {"changed": again.get("changed"), "reloaded": again.get("reloaded")}
    live = lab.live(6)
    fault_log.measured["traffic_after_rerun"] = live
    assert live == {"green": 6}, f"re-run of the switch to green left traffic on {live} (result {again})"
