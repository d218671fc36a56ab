# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""verify_rollback: a release that passed its smoke test failed after the switch and was switched back.

Looks at the recorded deploy run (attempt_flaky.json), at the load balancer snapshots
before and after it, and at the containers as they are now.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from molecule_checks import UPSTREAM_FILE, fatal_text, fetch, recorded, upstream_state

LB = testinfra.get_host("podman://sy-verify-rollback-lb")
GREEN = testinfra.get_host("podman://sy-verify-rollback-green")


def test_smoke_test_passed_before_the_switch():
    attempt = recorded("attempt_flaky")
    reports = [m["msg"] for m in attempt["messages"] if m["task"].endswith("Judge the smoke tests")]
    assert len(reports) == 1, attempt["messages"]
    summaries = reports[0]
    assert summaries and all("PASSED" in line for line in summaries), summaries
    assert not [f for f in attempt["failures"] if "smoke test" in f["task"].lower()]


def test_the_switch_to_green_was_made():
    attempt = recorded("attempt_flaky")
    decisions = [str(m["msg"]) for m in attempt["messages"] if "Show the decision" in m["task"]]
    assert any("live=blue target=green switching" in " ".join(d.split()) for d in decisions), decisions
    # The switch itself succeeded (only the verification after it failed).
    assert not [f for f in attempt["failures"] if "Switch nginx" in f["task"]]
    assert attempt["stats"]["sy-verify-rollback-lb"]["changed"] >= 2  # switched, and switched back


def test_play_failed_reporting_the_verification_and_the_automatic_rollback():
    attempt = recorded("attempt_flaky")
    assert attempt["rc"] != 0
    text = " ".join(fatal_text(attempt).split())
    assert "Verification of green through http://10.88.236.10:80/ FAILED" in text
    assert "Traffic was switched back to blue." in text
    # The failure is the one the release was built with: answers with status 500.
    assert "500" in text


def test_snapshot_after_shows_blue_after_a_round_trip():
    before = recorded("snapshot_before")["sy-verify-rollback-lb"]
    after = recorded("snapshot_after")["sy-verify-rollback-lb"]
    assert before["active"] == "blue"
    assert after["active"] == "blue"
    assert after["colors"] == {"blue": 20}
    assert after["statuses"] == {"200": 20}
    # Two reloads happened (to green and back), so the workers are new ones.
    assert not set(after["workers"]) & set(before["workers"])


def test_load_balancer_serves_blue_1_0_0():
    answers = fetch(LB, 80)
    assert {a["status"] for a in answers} == {200}
    assert {a["x-app-color"] for a in answers} == {"blue"}
    assert {a["x-app-version"] for a in answers} == {"1.0.0"}


def test_managed_file_records_the_switch_back_and_nginx_runs_it():
    _unused, meta = upstream_state(LB)
    assert meta["active"] == "blue"
    assert meta["previous_active"] == "green"
    assert meta["switched_at"]
    # nginx -T shows the managed file as it is on disk: what runs is what the file says.
    content = LB.file(UPSTREAM_FILE).content_string
    assert f"# configuration file {UPSTREAM_FILE}:\n{content}" in LB.check_output("nginx -T 2>/dev/null") + "\n"


def test_green_really_fails_under_traffic():
    # Not vacuous: the release on green does fail now (its request budget is spent).
    answers = fetch(GREEN, 8082, 3)
    assert {a["status"] for a in answers} == {500}
    health = json.loads(GREEN.check_output("curl -s --max-time 5 http://127.0.0.1:8082/healthz"))
    assert health["version"] == "2.0.0-flaky"
