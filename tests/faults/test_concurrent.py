# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two, then eight nginx_upstream runs released at the same moment on the same upstream.

All module processes are started first and block reading their arguments; the arguments
are then written to all of them back to back. The runs must serialise: every changing
run's recorded previous state is the state the run before it left, so following
"previous -> new" from the initial state visits every changing run exactly once and ends
at the state in the file. A client on new connections runs throughout and must see no 5xx.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import split_file
from tests.lib.backends import ColourBackend

from .conftest import (
    ROUNDS,
    UPSTREAM,
    TrafficClient,
    module_payload,
    parse_result,
    start_module,
    wait_for_single_generation,
)


def state_key(active, weights):
    if active is not None:
        return f"active={active}"
    return "weights=" + ",".join(f"{colour}:{weight}" for colour, weight in sorted((weights or {}).items()))


def release_together(lab, requests: list[dict]) -> list[dict]:
    """Start one module process per request, then hand all of them their arguments at once."""
    procs = [start_module("nginx_upstream") for _request in requests]
    payloads = [module_payload(lab.args(**request)) for request in requests]
    for proc, payload in zip(procs, payloads):
        proc.stdin.write(payload)
    for proc in procs:
        proc.stdin.close()
    results = []
    for proc in procs:
        stdout = proc.stdout.read()
        stderr = proc.stderr.read()
        proc.wait(timeout=120)
        proc.stdout.close()
        proc.stderr.close()
        results.append(parse_result(proc, stdout, stderr))
    return results


def check_chain(initial: str, results: list[dict], final_metadata: dict) -> list[str]:
    """The changing runs form one chain initial -> ... -> final; returns the problems found."""
    problems = []
    steps = {}
    for result in results:
        if result.get("failed"):
            problems.append(f"a run failed: {result.get('msg')} {result.get('_stderr', '')[-300:]}")
            continue
        if not result["changed"]:
            continue
        previous = state_key(result["previous_active"], result["previous_weights"])
        new = state_key(result["active"], result["weights"])
        if previous in steps:
            problems.append(f"two runs both recorded {previous} as their previous state (not serialised)")
        steps[previous] = new
    current, visited = initial, 0
    while current in steps and visited <= len(steps):
        current = steps[current]
        visited += 1
    if visited != len(steps):
        problems.append(f"the recorded previous states do not form one chain from {initial}: {steps}")
    final = state_key(final_metadata.get("active"), final_metadata.get("weights"))
    if current != final:
        problems.append(f"the chain ends at {current} but the file holds {final}")
    last_previous = state_key(final_metadata.get("previous_active"), final_metadata.get("previous_weights"))
    if steps and steps.get(last_previous) != final:
        problems.append(f"the file's previous state {last_previous} is not the step before {final}")
    return problems


@pytest.fixture
def red():
    backend = ColourBackend("red", "3.0.0").start()
    yield backend
    backend.stop()


def run_rounds(lab, fault_log, requests_for_round, initial_args) -> None:
    traffic = TrafficClient(lab.nginx.ports[UPSTREAM]).start()
    problems: list[str] = []
    finals: dict[str, int] = {}
    waited = 0
    try:
        for round_no in range(ROUNDS):
            reset = lab.switch(**initial_args)
            assert not reset.failed, reset
            wait_for_single_generation(lab.nginx)
            initial = state_key(initial_args.get("active"), None)
            requests = requests_for_round(round_no)
            results = release_together(lab, requests)
            metadata = split_file(lab.path.read_text())[0]
            requested = {state_key(r.get("active"), r.get("weights")) for r in requests}
            final = state_key(metadata.get("active"), metadata.get("weights"))
            finals[final] = finals.get(final, 0) + 1
            if final not in requested:
                problems.append(f"round {round_no}: final state {final} is none of the requested {requested}")
            problems += [f"round {round_no}: {p}" for p in check_chain(initial, results, metadata)]
            waited += sum(1 for r in results if (r.get("timings") or {}).get("lock_ms"))
            check = lab.nginx.test_config()
            if check.returncode != 0:
                problems.append(f"round {round_no}: nginx -t failed: {check.stderr}")
            fault_log.runs += 1
    finally:
        summary = traffic.stop()
    fault_log.measured.update({"switches_per_round": len(requests_for_round(0)), "final_states": finals,
                               "runs_that_waited_for_the_lock": waited, "traffic": summary,
                               "problems": problems[:20]})
    assert not problems, "\n".join(problems)
    assert traffic.server_errors == 0, summary


def test_two_switches_at_once_three_colours(lab, red, fault_log):
    """blue is live; green and red are requested at the same moment: both apply in some order."""
    fault_log.set("nginx_upstream: concurrent runs",
                  f"2 switches (to green, to red) released together, {ROUNDS} rounds",
                  "serialised; final state one of the requested; metadata records the true previous colour")
    lab.backends["red"] = red
    run_rounds(lab, fault_log, lambda _round: [{"active": "green"}, {"active": "red"}], {"active": "blue"})


def test_two_identical_switches_at_once(lab, fault_log):
    """Both ask for green: exactly one changes (previous blue), the other finds green and changes nothing."""
    fault_log.set("nginx_upstream: concurrent runs",
                  f"2 identical switches (to green) released together, {ROUNDS} rounds",
                  "exactly one run changes, previous_active=blue; the other changed=false")
    bad = []
    for round_no in range(ROUNDS):
        assert not lab.switch(active="blue").failed
        wait_for_single_generation(lab.nginx)
        results = release_together(lab, [{"active": "green"}, {"active": "green"}])
        changed = [r for r in results if r.get("changed")]
        if any(r.get("failed") for r in results) or len(changed) != 1 or changed[0]["previous_active"] != "blue":
            seen = [(r.get("changed"), r.get("previous_active"), r.get("msg")) for r in results]
            bad.append(f"round {round_no}: {seen}")
        metadata = split_file(lab.path.read_text())[0]
        if (metadata["active"], metadata["previous_active"]) != ("green", "blue"):
            bad.append(f"round {round_no}: metadata {json.dumps(metadata)}")
        fault_log.runs += 1
    fault_log.measured["problems"] = bad
    assert not bad, "\n".join(bad)
    assert lab.live(6) == {"green": 6}


def test_eight_switches_at_once(lab, fault_log):
    """Eight different splits released together: the recorded previous states chain through all eight."""
    fault_log.set("nginx_upstream: concurrent runs", f"8 switches (8 different weight splits) released together, "
                  f"{ROUNDS} rounds", "serialised (one chain of previous states); final state one of the requested")

    def requests(_round):
        return [{"weights": {"blue": 10 + 10 * i, "green": 90 - 10 * i}} for i in range(8)]

    run_rounds(lab, fault_log, requests, {"active": "blue"})
    assert fault_log.measured["runs_that_waited_for_the_lock"] > 0, "no run ever waited: the runs did not overlap"
