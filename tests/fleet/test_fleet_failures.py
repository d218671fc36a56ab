# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ten load balancers over SSH: one of them fails between stage and commit, or at commit (issue #17).

switch.yml runs with the role's drill hook ``switch_pause_after_stage_s``: every load balancer has
staged (checked the candidate, no reload) when the playbook holds, and the test breaks one load
balancer during the hold:
  (a) its network is cut (podman network disconnect): its commit never arrives;
  (b) its nginx is killed (SIGKILL, master and workers): its commit cannot reload;
  (c) its reload fails at commit: a server block listening on a port that another process took
      after the stage. ``nginx -t`` passes (it does not bind sockets), so the stage's test passed
      and the commit's test passes too; the reload's bind() fails and nginx keeps running its old
      configuration - as when another service grabs a port between the check and the reload.
The outcome must be all or none: every load balancer serves the colour that was live (HTTP on each,
worker pids of the broken one unchanged), the job fails naming the host, and status.yml then shows
one colour (the broken one: what status.yml shows for it is recorded).
"""

from __future__ import annotations

import contextlib
import time

import pytest

from .conftest import LBS, fatal_messages, status_colors, status_lines

CATEGORY = f"fleet over SSH ({LBS} nginx LBs): one LB lost between stage and commit"
HOLD_S = 4
HOLD_TASK = "Hold between stage and commit"
PORT_FILE = "/etc/nginx/conf.d/zz_sy_port_taken.conf"
TAKER_PID = "/run/sy_port_taker.pid"
REPAIR_PORT = f"rm -f {PORT_FILE}; kill $(cat {TAKER_PID}) 2>/dev/null; rm -f {TAKER_PID}; true"
TAKEN_PORT = 9099


def victim_of(lab) -> str:
    # Not lb1: the smoke test and the verification run from lb1 (bluegreen_check_host).
    return lab.hosts[len(lab.hosts) // 2 + 1] if len(lab.hosts) > 3 else lab.hosts[-1]


def switch_with_hold(lab, target: str, act) -> tuple[int, str, float]:
    """switch.yml to target, act() while the fleet holds between stage and commit; (rc, output, seconds)."""
    started = time.monotonic()
    proc = lab.start_playbook("switch.yml", "-e", f"bluegreen_target_color={target}",
                              "-e", f"switch_pause_after_stage_s={HOLD_S}", env={"PYTHONUNBUFFERED": "1"})
    try:
        lab.wait_until(lambda: HOLD_TASK in proc.log.read_text() or proc.poll() is not None, 400,
                       "the playbook to reach the hold between stage and commit", interval=0.1)
        if proc.poll() is not None:
            pytest.fail(f"switch.yml ended (rc {proc.returncode}) before the hold:\n{proc.log.read_text()[-4000:]}")
        act()
        proc.wait(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, proc.log.read_text(), time.monotonic() - started


def served_everywhere(lab, hosts, requests: int = 5) -> dict[str, set]:
    """The colours each host answered with over several requests (a set per host)."""
    return {host: {(lab.served_color(host) or (None,))[0] for _request in range(requests)} for host in hosts}


def wait_single_generation(lab, host: str, timeout: float = 30) -> list[int]:
    """Old workers gone after a reload (the drain): one worker generation left."""
    def single():
        pids = lab.worker_pids(host)
        return pids if pids and not lab.draining(host) else None
    return lab.wait_until(single, timeout, f"a single nginx worker generation on {host}")


def check_all_on(lab, colour: str, hosts) -> None:
    for host in hosts:
        wait_single_generation(lab, host)
    answers = served_everywhere(lab, hosts)
    assert all(seen == {colour} for seen in answers.values()), f"not every load balancer serves {colour}: {answers}"
    metas = {host: lab.upstream_meta(host).get("active") for host in hosts}
    assert set(metas.values()) == {colour}, f"managed files: {metas}"


CASES = {
    "network": "network cut (podman network disconnect) after every LB staged",
    "nginx_killed": "nginx killed (SIGKILL master and workers) after every LB staged",
    "reload_fails": ("reload fails at commit: a server block on a port another process took after the stage "
                     "(nginx -t passes, the reload's bind() fails)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_load_balancer_lost_between_stage_and_commit_leaves_all_on_the_old_colour(
        fleet_lab, switch_duration, fault_log, case):
    lab = fleet_lab
    fault_log.set(CATEGORY, CASES[case],
                  "all or none: every LB serves the old colour (HTTP, the broken LB's worker pids unchanged), "
                  "the job fails naming the LB, status.yml shows one colour")
    fault_log.runs = 1
    old = lab.live()
    target = "green" if old == "blue" else "blue"
    victim = victim_of(lab)
    others = [h for h in lab.hosts if h != victim]
    victim_pids = wait_single_generation(lab, victim)

    def act():
        if case == "network":
            lab.disconnect(victim)
        elif case == "nginx_killed":
            lab.kill_nginx(victim)
        else:
            lab.exec(victim, f"setsid python3 -c 'import socket, time; s = socket.socket();"
                             f" s.bind((\"127.0.0.1\", {TAKEN_PORT})); s.listen(); time.sleep(3600)'"
                             f" >/dev/null 2>&1 < /dev/null & echo $! > {TAKER_PID}; sleep 0.5")
            lab.exec(victim, f"printf 'server {{ listen 127.0.0.1:{TAKEN_PORT}; return 204; }}\\n' > {PORT_FILE}")
            proc = lab.nginx_test(victim)
            assert proc.returncode == 0, f"the drill's file must pass nginx -t: {proc.stdout}"

    repaired = False
    try:
        rc, output, seconds = switch_with_hold(lab, target, act)
        messages = fatal_messages(output)
        fault_log.measured["seconds"] = round(seconds, 1)
        fault_log.measured["msg"] = " | ".join(m for m in messages if victim in m)[:600] or " | ".join(messages)[:600]
        assert rc != 0, f"switch.yml succeeded although {victim} was broken:\n{output[-3000:]}"
        assert any(victim in m for m in messages), f"no failure names {victim}: {messages}"

        # Every other load balancer is back on the old colour.
        check_all_on(lab, old, others)
        if case == "reload_fails":
            # The victim never reloaded (both its commit's reload and the put-back failed to bind):
            # same workers, old colour, and its configuration on disk passes nginx -t.
            assert lab.worker_pids(victim) == victim_pids
            check_all_on(lab, old, [victim])
            assert lab.nginx_test(victim).returncode == 0

        # What status.yml shows while the victim is still broken.
        proc, colors, lines = lab.status()
        fault_log.measured["status"] = {"rc": proc.returncode, "first_line": lines[0] if lines else None,
                                        "colors": colors}
        assert {colors.get(h) for h in others} == {old}, f"status.yml: {lines}\n{proc.stdout[-2000:]}"
        assert not any("SPLIT FLEET" in line for line in lines), lines
        if case == "network":
            assert colors.get(victim) == "unreachable", lines
        else:
            # nginx_killed: status reads the managed file, which says the old colour (nginx itself is down).
            assert colors.get(victim) == old, lines

        # Repair the victim: it comes back on the old colour, never reloaded with the candidate.
        if case == "network":
            lab.reconnect(victim)
            assert lab.worker_pids(victim) == victim_pids, "the cut-off LB reloaded although its commit never came"
        elif case == "nginx_killed":
            lab.exec(victim, "systemctl start nginx")
        else:
            lab.exec(victim, REPAIR_PORT)
        repaired = True
        check_all_on(lab, old, lab.hosts)
        bad = lab.nginx_tests()
        assert not bad, f"nginx -t fails: {bad}"
        fault_log.measured["final_states"] = f"all {LBS} LBs on {old} (the live colour before the switch)"
    finally:
        if not repaired:
            # Leave the fleet usable for the next test whatever happened.
            if case == "network":
                with contextlib.suppress(Exception):  # already failing; the next test reports the state
                    lab.reconnect(victim)
            elif case == "nginx_killed":
                lab.exec(victim, "systemctl start nginx", check=False)
            else:
                lab.exec(victim, REPAIR_PORT, check=False)


def test_status_lines_parser_reads_a_split_summary():
    # Guards the parser the fleet tests rely on (a summary it cannot read would make them vacuous).
    output = ('TASK [Show the status] ****\nok: [lb1] => {\n    "msg": [\n'
              '        "SPLIT FLEET: blue on lb1; green on lb2. Reunite on blue",\n'
              '        "router lb1: live blue, switched x from green",\n'
              '        "router lb2: live green",\n        "router lb3: UNREACHABLE (live colour unknown)"\n    ]\n}\n')
    assert status_lines(output)[0].startswith("SPLIT FLEET")
    assert status_colors(output) == {"lb1": "blue", "lb2": "green", "lb3": "unreachable"}
