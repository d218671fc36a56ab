# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bad_release: two broken releases were deployed to green and neither took traffic.

Looks at the recorded deploy runs (attempt_*.json), at the load balancer snapshots
taken before and after each, and at the containers as they are now.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from molecule_checks import fatal_text, fetch, recorded, upstream_state

LB = testinfra.get_host("podman://sy-bad-release-lb")
GREEN = testinfra.get_host("podman://sy-bad-release-green")
ATTEMPTS = ["home_500", "wrong_version"]


def test_home_page_failure_stops_the_deploy_at_the_smoke_test():
    attempt = recorded("attempt_home_500")
    assert attempt["rc"] != 0
    text = fatal_text(attempt)
    assert "Smoke test of green FAILED, no switch was made" in text
    # The message names the check that failed and why, and the health check is not blamed.
    assert "[home page via direct]" in text
    assert "500" in text
    assert "[health via" not in text


def test_wrong_build_stops_the_deploy_at_the_health_wait():
    attempt = recorded("attempt_wrong_version")
    assert attempt["rc"] != 0
    text = fatal_text(attempt)
    assert "did not become healthy" in text
    assert "/healthz" in text
    assert "X-App-Version 2.0.0" in text
    assert "expected 2.0.1" in text


@pytest.mark.parametrize("name", ATTEMPTS)
def test_the_failed_deploy_never_reached_the_switch(name):
    attempt = recorded(f"attempt_{name}")
    tasks = {f["task"] for f in attempt["failures"]}
    assert not any("Switch" in task or "switch back" in task.lower() for task in tasks), tasks
    assert not any("is live on" in str(m["msg"]) for m in attempt["messages"])
    # The load balancer was not changed at all by the failed run.
    assert attempt["stats"]["sy-bad-release-lb"]["changed"] == 0


@pytest.mark.parametrize("name", ["after_home_500", "after_wrong_version"])
def test_load_balancer_unchanged_after_each_failed_deploy(name):
    before = recorded("snapshot_before")["sy-bad-release-lb"]
    after = recorded(f"snapshot_{name}")["sy-bad-release-lb"]
    assert before["active"] == "blue"
    assert before["colors"] == {"blue": 20}
    assert after["sha256"] == before["sha256"]
    assert after["active"] == "blue"
    assert after["colors"] == {"blue": 20}
    assert after["statuses"] == {"200": 20}


def test_load_balancer_still_serves_blue_1_0_0():
    answers = fetch(LB, 80)
    assert {a["status"] for a in answers} == {200}
    assert {a["x-app-color"] for a in answers} == {"blue"}
    assert {a["x-app-version"] for a in answers} == {"1.0.0"}


def test_managed_upstream_file_is_byte_for_byte_unchanged():
    sha, meta = upstream_state(LB)
    assert sha == recorded("snapshot_before")["sy-bad-release-lb"]["sha256"]
    assert meta["active"] == "blue"


def test_green_really_runs_the_broken_build():
    # Not vacuous: the deploys did install their releases on green; only the checks kept them out.
    answers = fetch(GREEN, 8082, 3, "/healthz")
    assert {a["x-app-color"] for a in answers} == {"green"}
    assert {a["x-app-version"] for a in answers} == {"2.0.0"}
    assert GREEN.file("/opt/demo/green/current").linked_to == "/opt/demo/releases/2.0.1"
