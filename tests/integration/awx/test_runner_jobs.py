# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy, switch, rollback and status playbooks as AWX jobs (ansible-runner).

Each test launches a playbook the way an AWX job template with a survey would: project =
this checkout, inventory = the lab's, extra vars = the survey's answers. It checks the
job's status and rc, the recorded events, the set_stats artifacts a workflow would pass
on, and the traffic a client sees through the lab's nginx afterwards.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO, execute_playbook
from tests.integration.awx.conftest import SurveyError

FRONT = """\
- name: Converge the nginx front (what deploy.yml does first)
  hosts: bluegreen_lb
  gather_facts: false
  roles:
    - switchyard.bluegreen.nginx
"""


def front(lab) -> None:
    """The nginx role on the lab's nginx: live listener on blue, preview on green."""
    playbook = lab.tmp / "front.yml"
    playbook.write_text(FRONT)
    proc = execute_playbook(playbook, inventory=lab.inventory)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert lab.colours() == {"blue": 20}


def active_colour(path: Path) -> str | None:
    """The live colour named in the managed upstream file's metadata line."""
    for line in path.read_text().splitlines():
        if line.startswith("# switchyard.bluegreen.nginx_upstream: "):
            return json.loads(line.split(": ", 1)[1])["active"]
    return None


# The keys each playbook publishes (the switch role's publish entry point), success or failure alike:
# a workflow's next node can rely on every one of them being there.
SWITCH_KEYS = {
    "bluegreen_live_color", "bluegreen_previous_color", "bluegreen_switched", "bluegreen_switched_at",
    "bluegreen_switch_duration_s", "bluegreen_reload_skew_s", "bluegreen_verification",
    "bluegreen_failed", "bluegreen_failure", "bluegreen_failed_task", "bluegreen_steps",
}
CONTRACT = {
    "deploy": SWITCH_KEYS | {"bluegreen_version", "bluegreen_deploy_duration_s", "bluegreen_migration"},
    "switch": SWITCH_KEYS | {"bluegreen_version", "bluegreen_playbook_duration_s"},
    "rollback": SWITCH_KEYS,
    # status.yml also says whether the load balancers disagree (a fleet split by a cancelled switch).
    "status": {"bluegreen_live_color", "bluegreen_previous_color", "bluegreen_status", "bluegreen_fleet_split",
               "bluegreen_fleet_colors", "bluegreen_fleet_reunite"},
}


def outcome(stats: dict) -> tuple:
    """(failed, switched, live colour) from a job's set_stats artifacts."""
    return stats["bluegreen_failed"], stats["bluegreen_switched"], stats["bluegreen_live_color"]


class BreakWhenLive:
    """Make a colour answer 500 as soon as the router sends it live traffic.

    Models a release that passes its health check and smoke test but breaks under
    real traffic: only the verification after the switch can catch it.
    """

    def __init__(self, lab, colour: str):
        self.lab = lab
        self.backend = lab.green if colour == "green" else lab.blue
        self.colour = colour
        self.stop = threading.Event()
        self.broke = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.wait(0.005):
            try:
                live = active_colour(self.lab.upstream_file)
            except (OSError, ValueError):
                continue
            if live == self.colour:
                self.backend.behaviour.status = 500
                self.broke.set()
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def test_deploy_of_the_live_release_is_a_successful_noop_job(lab):
    lab.record("blue", "1.0.0")
    # Survey answers: version and artifact are text, the toggles multiple choice (strings).
    job = lab.launch("bluegreen | deploy", {
        "bluegreen_version": "1.0.0",
        "bluegreen_artifact": "/srv/releases/shop-1.0.0.tar.gz",
        "bluegreen_auto_rollback": "true",
        "bluegreen_retire": "false",
    })
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    assert job.failed_tasks() == []
    assert set(job.artifacts) == CONTRACT["deploy"]
    assert job.artifacts["bluegreen_live_color"] == "blue"
    assert job.artifacts["bluegreen_version"] == "1.0.0"
    assert job.artifacts["bluegreen_switched"] is False
    assert job.artifacts["bluegreen_previous_color"] is None
    assert job.artifacts["bluegreen_verification"] == "not run"
    assert (job.artifacts["bluegreen_failed"], job.artifacts["bluegreen_failure"]) == (False, None)
    assert "Nothing deployed: blue already runs 1.0.0" in job.stdout
    # The deploy converged the front (live listener on blue) and switched nothing.
    assert lab.colours() == {"blue": 20}
    assert lab.colours(lab.preview_port, 5) == {"green": 5}
    assert active_colour(lab.upstream_file) == "blue"


def test_deploy_that_fails_to_provision_publishes_the_failure(lab):
    """A deploy that fails before any switch still hands its outcome to the workflow."""
    lab.record("blue", "1.0.0")
    lab.record("green", "1.0.0")
    # The survey takes any text; the environment role refuses a version with a space before it changes anything.
    job = lab.launch("bluegreen | deploy", {
        "bluegreen_version": "2.0 beta",
        "bluegreen_artifact": "/srv/releases/shop-2.0.tar.gz",
    })
    assert job.status == "failed" and job.rc != 0
    messages = job.failure_messages()
    assert len(messages) == 2 and messages[1] == messages[0], messages
    assert "the version may use letters, digits" in messages[0]
    stats = job.artifacts
    assert set(stats) == CONTRACT["deploy"]
    assert (stats["bluegreen_failed"], stats["bluegreen_switched"]) == (True, False)
    assert (stats["bluegreen_live_color"], stats["bluegreen_version"]) == ("blue", "2.0 beta")
    # No switch in a deploy that failed before the switch play.
    assert (stats["bluegreen_switched_at"], stats["bluegreen_switch_duration_s"], stats["bluegreen_reload_skew_s"]) == (
        None, None, None)
    assert stats["bluegreen_verification"] == "not run" and float(stats["bluegreen_deploy_duration_s"]) >= 0
    assert "the version may use letters, digits" in stats["bluegreen_failure"]
    assert stats["bluegreen_failed_task"] == "Refuse a release without a version or an artifact"
    # The play that would switch never ran.
    assert "Smoke-test the target colour" not in job.task_names()
    assert active_colour(lab.upstream_file) == "blue"
    assert lab.colours() == {"blue": 20}


def test_switch_workflow_with_a_denied_keep_approval_rolls_back(lab):
    """The 'bluegreen | switch with approvals' workflow, node by node.

    status-before -> (approved) switch -> keep-new-colour denied -> rollback -> status-after.
    As in AWX, each node gets the workflow's survey answers plus the set_stats artifacts
    of the nodes before it as extra vars.
    """
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    # The workflow survey's answers. A colour there reaches every node, the rollback node too:
    # rollback.yml must still go back to the previous colour, not to this one.
    carried = {"bluegreen_auto_rollback": "true", "bluegreen_target_color": "green"}

    before = lab.launch("bluegreen | status", workflow_vars=carried)
    assert (before.status, before.rc) == ("successful", 0), before.stdout[-3000:]
    assert set(before.artifacts) == CONTRACT["status"]
    assert before.artifacts["bluegreen_live_color"] == "blue"
    assert before.artifacts["bluegreen_status"]["blue"]["live_on"] == 1
    # status changes nothing.
    assert not any(e["event_data"].get("res", {}).get("changed") for e in before.events if e["event"] == "runner_on_ok")
    carried.update(before.artifacts)

    switch = lab.launch("bluegreen | switch", workflow_vars=carried)
    assert (switch.status, switch.rc) == ("successful", 0), switch.stdout[-3000:]
    stats = switch.artifacts
    assert set(stats) == CONTRACT["switch"]
    assert float(stats["bluegreen_playbook_duration_s"]) > 0
    assert (stats["bluegreen_live_color"], stats["bluegreen_previous_color"]) == ("green", "blue")
    assert stats["bluegreen_version"] == "2.0.0"
    assert stats["bluegreen_switched"] is True
    assert stats["bluegreen_switched_at"].startswith("20")
    assert float(stats["bluegreen_switch_duration_s"]) > 0
    assert float(stats["bluegreen_reload_skew_s"]) == 0.0  # one load balancer: no skew
    assert "green=20" in stats["bluegreen_verification"]
    assert outcome(stats) == (False, True, "green") and stats["bluegreen_failure"] is None
    assert stats["bluegreen_failed_task"] is None
    assert {"smoke_test", "switch"} <= switch.roles_run()
    assert "Publish the outcome for AWX workflows" in switch.task_names()
    assert lab.colours() == {"green": 20}
    carried.update(switch.artifacts)

    # keep-new-colour is denied (or times out): the failure path runs the rollback node.
    rollback = lab.launch("bluegreen | rollback", workflow_vars=carried)
    assert (rollback.status, rollback.rc) == ("successful", 0), rollback.stdout[-3000:]
    assert set(rollback.artifacts) == CONTRACT["rollback"]
    assert rollback.artifacts["bluegreen_live_color"] == "blue"
    assert rollback.artifacts["bluegreen_previous_color"] == "green"
    assert rollback.artifacts["bluegreen_switched"] is True
    # rollback skips the smoke test: only a liveness probe, the switch and a short verification.
    assert "smoke_test" not in rollback.roles_run() and "switch" in rollback.roles_run()
    assert "blue=10" in rollback.artifacts["bluegreen_verification"]
    assert rollback.artifacts["bluegreen_failed"] is False
    assert lab.colours() == {"blue": 20}
    carried.update(rollback.artifacts)

    after = lab.launch("bluegreen | status", workflow_vars=carried)
    assert (after.status, after.rc) == ("successful", 0), after.stdout[-3000:]
    assert (after.artifacts["bluegreen_live_color"], after.artifacts["bluegreen_previous_color"]) == ("blue", "green")
    colours = after.artifacts["bluegreen_status"]
    assert colours["blue"]["live_on"] == 1 and colours["green"]["live_on"] == 0
    assert colours["green"]["versions"] == ["2.0.0"] and colours["blue"]["versions"] == ["1.0.0"]
    assert colours["green"]["healthy"] == 1 and colours["blue"]["healthy"] == 1


def test_failed_verification_fails_the_job_with_the_reason_and_traffic_returns(lab):
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    with BreakWhenLive(lab, "green") as breaker:
        job = lab.launch("bluegreen | switch", {"bluegreen_target_color": "green", "bluegreen_auto_rollback": "true"})
    assert breaker.broke.is_set(), "the switch never sent traffic to green"
    assert job.status == "failed" and job.rc != 0
    # The verification's failure (rescued so that the stats get published), then the same
    # reason again from the re-raise that keeps the job failed.
    messages = job.failure_messages()
    assert len(messages) == 2, messages
    assert "Verification of green" in messages[0] and "FAILED" in messages[0]
    assert "Traffic was switched back to blue" in messages[0]
    assert messages[1] == messages[0]
    assert job.task_names()[-1] == "Fail with the original reason"
    # A workflow's failure branch gets what is live after the switch-back, and why.
    stats = job.artifacts
    assert set(stats) == CONTRACT["switch"]
    assert stats["bluegreen_failed"] is True
    assert stats["bluegreen_live_color"] == "blue"
    assert stats["bluegreen_switched"] is False
    assert stats["bluegreen_version"] == "2.0.0"
    assert stats["bluegreen_failed_task"] == "Fail with the verification result"
    assert stats["bluegreen_failure"].startswith("Verification of green through http://127.0.0.1:")
    assert "FAILED" in stats["bluegreen_failure"] and "switched back to blue" in stats["bluegreen_failure"]
    assert "\n" not in stats["bluegreen_failure"]
    assert stats["bluegreen_verification"] != "not run"
    assert stats["bluegreen_switched_at"].startswith("20")
    assert active_colour(lab.upstream_file) == "blue"
    assert lab.colours() == {"blue": 20}


def test_failed_verification_with_auto_rollback_off_leaves_the_target_live(lab):
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    with BreakWhenLive(lab, "green"):
        job = lab.launch("bluegreen | switch", {"bluegreen_target_color": "green", "bluegreen_auto_rollback": "false"})
    assert job.status == "failed" and job.rc != 0
    messages = job.failure_messages()
    assert len(messages) == 2 and "Traffic was left on green" in messages[0], messages
    # The switch stayed in place: the stats say so, with the failure.
    stats = job.artifacts
    assert (stats["bluegreen_failed"], stats["bluegreen_switched"]) == (True, True)
    assert (stats["bluegreen_live_color"], stats["bluegreen_previous_color"]) == ("green", "blue")
    assert "Traffic was left on green" in stats["bluegreen_failure"]
    assert active_colour(lab.upstream_file) == "green"


def test_unhealthy_target_is_refused_before_any_switch(lab):
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    before = lab.upstream_file.read_bytes()
    lab.green.behaviour.status = 503
    job = lab.launch("bluegreen | switch", {"bluegreen_target_color": "green"})
    assert job.status == "failed" and job.rc != 0
    messages = job.failure_messages()
    assert any("FAILED, no switch was made" in m or "not healthy" in m for m in messages), messages
    stats = job.artifacts
    assert outcome(stats) == (True, False, "blue")
    # The smoke test refuses it first (the switch role's precheck would too).
    assert stats["bluegreen_failure"].startswith("Smoke test of green FAILED, no switch was made")
    assert len(stats["bluegreen_failure"]) <= 500
    assert stats["bluegreen_verification"] == "not run"
    assert stats["bluegreen_switched_at"] is None
    assert lab.upstream_file.read_bytes() == before
    assert lab.colours() == {"blue": 20}


def test_rollback_reads_the_colour_from_bluegreen_rollback_to(lab):
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    # Named colour already live: nothing to do (a plain rollback would have gone to green).
    job = lab.run("playbooks/rollback.yml", {"bluegreen_rollback_to": "blue"})
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    assert job.artifacts["bluegreen_switched"] is False and job.artifacts["bluegreen_live_color"] == "blue"
    assert lab.colours() == {"blue": 20}
    job = lab.run("playbooks/rollback.yml", {"bluegreen_rollback_to": "purple"})
    assert job.status == "failed" and job.rc != 0
    assert any("bluegreen_rollback_to" in m and "purple" in m for m in job.failure_messages()), job.failure_messages()
    assert lab.colours() == {"blue": 20}


def test_rollback_to_a_dead_colour_is_refused_and_published(lab):
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    lab.green.behaviour.status = 503
    job = lab.launch("bluegreen | rollback")
    assert job.status == "failed" and job.rc != 0
    messages = job.failure_messages()
    assert len(messages) == 2 and messages[1] == messages[0], messages
    assert "green is not healthy, traffic stays on blue" in messages[0]
    stats = job.artifacts
    assert set(stats) == CONTRACT["rollback"]
    assert outcome(stats) == (True, False, "blue")
    assert stats["bluegreen_failure"].startswith("green is not healthy, traffic stays on blue")
    assert stats["bluegreen_failed_task"] == "Refuse to switch to an unhealthy colour"
    assert lab.colours() == {"blue": 20}


def test_a_colour_outside_the_survey_fails_before_anything_changes(lab):
    """AWX refuses a choice outside the survey; a run without AWX (extra vars by hand) is refused by the role."""
    with pytest.raises(SurveyError, match="purple"):
        lab.launch("bluegreen | switch", {"bluegreen_target_color": "purple"})
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    before = lab.upstream_file.read_bytes()
    job = lab.run("playbooks/switch.yml", {"bluegreen_target_color": "purple"})
    assert job.status == "failed" and job.rc != 0
    assert any("purple" in m for m in job.failure_messages()), job.failure_messages()
    # Refused before the router was read: nothing is known to be live, nothing was switched.
    assert job.artifacts["bluegreen_failed"] is True and job.artifacts["bluegreen_switched"] is False
    assert job.artifacts["bluegreen_live_color"] is None
    assert "purple" in job.artifacts["bluegreen_failure"]
    assert lab.upstream_file.read_bytes() == before
    assert lab.colours() == {"blue": 20}


def test_two_switches_in_one_run_publish_the_last_result(lab, tmp_path):
    """set_stats aggregates by default (strings concatenated, numbers added); the playbooks publish the last value."""
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    twice = tmp_path / "switch_twice.yml"
    twice.write_text(
        f"- name: There\n  ansible.builtin.import_playbook: {REPO}/playbooks/switch.yml\n"
        "  vars:\n    bluegreen_target_color: green\n"
        f"- name: And back\n  ansible.builtin.import_playbook: {REPO}/playbooks/switch.yml\n"
        "  vars:\n    bluegreen_target_color: blue\n")
    job = lab.run(str(twice))
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    stats = job.artifacts
    assert (stats["bluegreen_live_color"], stats["bluegreen_previous_color"]) == ("blue", "green"), stats
    assert stats["bluegreen_switched"] is True and stats["bluegreen_failed"] is False
    assert "blue=20" in stats["bluegreen_verification"], stats["bluegreen_verification"]
    assert lab.colours() == {"blue": 20}


def test_retire_names_the_idle_colour_from_the_router(lab):
    """retire.yml's first play (detect through the switch role): the colour to stop is the idle one.

    The second play stops a systemd unit, which this host cannot run: it gets no hosts here.
    """
    lab.record("blue", "1.0.0")
    lab.record("green", "2.0.0")
    front(lab)
    job = lab.run("playbooks/retire.yml", {"bluegreen_app_hosts": "no_such_group"})
    assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
    named = [e["event_data"]["res"]["ansible_facts"]["bluegreen_retire_color"] for e in job.events
             if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == "Name the colour to retire"]
    assert named == ["green"]
    assert lab.colours() == {"blue": 20}
