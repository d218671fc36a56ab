# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""haproxy_backend phase=stage/commit/abort against a real HAProxy on loopback with real blue and green backends.

Every test reads the state back itself: the servers' runtime states from the admin socket, the files' bytes,
and the traffic (X-Bluegreen-Color of the answers through HAProxy's frontend).
"""

from __future__ import annotations

import datetime
import json
import time

from tests.lib.backends import ColourBackend
from tests.lib.files import digest

from .conftest import BACKEND, Lab, runtime_states

STAGE = "job42-20261129T193000"
GREEN_COMMANDS = [f"set weight {BACKEND}/green-1 1", f"set server {BACKEND}/blue-1 state drain"]


def record_path(lab: Lab):
    return lab.path.with_name(lab.path.name + ".stage")


def observed(lab: Lab) -> dict:
    """Everything a stage must leave alone: the files, the servers' runtime states and the worker."""
    return {"file": digest(lab.path), "state_file": digest(lab.haproxy.state_file),
            "backup": digest(f"{lab.path}.previous"), "runtime": runtime_states(lab),
            "worker": lab.haproxy.worker_pid()}


def parse_iso(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_stage_changes_nothing_and_records_the_plan(lab: Lab):
    before = observed(lab)
    result = lab.switch(active="green", phase="stage", stage_id=STAGE, stage_ttl=30)
    assert not result.failed, result
    # Nothing changed yet: changed is false; commands say what the commit will send.
    assert result["staged"] and not result["changed"] and result["stage_id"] == STAGE
    assert result["commands"] == GREEN_COMMANDS and result["applied_at"] is None and not result["reloaded"]
    assert result["committed_at"] is None and result["commit_at"] is None
    expires = parse_iso(result["stage_expires_at"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now < expires <= now + datetime.timedelta(seconds=30)
    assert observed(lab) == before
    assert lab.live() == {"blue": 20}
    record = json.loads(record_path(lab).read_text())
    assert record["stage_id"] == STAGE and not record["noop"]
    assert record["details"]["signature"]["commands"] == GREEN_COMMANDS
    assert "server green-1 {} weight 1".format(lab.backends["green"].address) in record["candidate"]


def test_stage_then_commit_switches_and_removes_the_record(lab: Lab):
    worker = lab.haproxy.worker_pid()
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    sent_at = datetime.datetime.now(datetime.timezone.utc)
    result = lab.switch(active="green", phase="commit", stage_id=STAGE)
    assert not result.failed, result
    assert result["changed"] and not result["reloaded"] and not result["staged"]
    assert result["commands"] == GREEN_COMMANDS
    assert result["committed_at"] == result["applied_at"]
    assert sent_at <= parse_iso(result["committed_at"]) <= datetime.datetime.now(datetime.timezone.utc)
    assert result["commit_late_ms"] >= 0
    assert (result["active"], result["previous_active"]) == ("green", "blue")
    assert lab.haproxy.worker_pid() == worker
    assert lab.live() == {"green": 20}
    assert runtime_states(lab)["blue-1"][0] & 0x08  # drain
    text = lab.path.read_text()
    assert "server green-1 {} weight 1".format(lab.backends["green"].address) in text
    assert "server blue-1 {} weight 0".format(lab.backends["blue"].address) in text
    assert "blue-1" in lab.haproxy.state_file.read_text()
    assert not record_path(lab).exists()
    # As apply would have left it: a later apply of the same state has nothing to do.
    again = lab.switch(active="green")
    assert not again["changed"] and again["drift"] == [], again


def test_commit_at_a_future_instant_waits_for_it(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    commit_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    commit_iso = commit_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    result = lab.switch(active="green", phase="commit", stage_id=STAGE, commit_at=commit_iso)
    assert not result.failed, result
    assert result["commit_at"] == commit_iso
    # Ordering, not timing: the commands went out no earlier than the agreed instant.
    assert parse_iso(result["committed_at"]) >= parse_iso(commit_iso)
    assert lab.live() == {"green": 20}


def test_commit_at_as_epoch_seconds(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    commit_at = round(time.time() + 1, 3)
    result = lab.switch(active="green", phase="commit", stage_id=STAGE, commit_at=str(commit_at))
    assert not result.failed, result
    assert parse_iso(result["committed_at"]).timestamp() >= commit_at
    assert lab.live() == {"green": 20}


def test_expired_stage_is_refused_and_removed(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE, stage_ttl=0.2)["staged"]
    before = observed(lab)
    time.sleep(0.5)
    result = lab.switch(active="green", phase="commit", stage_id=STAGE)
    assert result.failed and "expired" in result["msg"], result
    assert not record_path(lab).exists()
    assert observed(lab) == before
    assert lab.live() == {"blue": 20}


def test_superseded_stage_is_refused_and_the_newer_one_commits(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id="first")["staged"]
    second = lab.switch(active="green", phase="stage", stage_id="second")
    assert second["staged"]
    assert any("superseded stage first" in str(warning) for warning in second.get("warnings", [])), second
    before = observed(lab)
    result = lab.switch(active="green", phase="commit", stage_id="first")
    assert result.failed and "superseded" in result["msg"], result
    assert observed(lab) == before
    assert json.loads(record_path(lab).read_text())["stage_id"] == "second"
    committed = lab.switch(active="green", phase="commit", stage_id="second")
    assert not committed.failed and committed["changed"], committed
    assert lab.live() == {"green": 20}


def test_state_changed_by_hand_between_stage_and_commit_is_refused(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    assert lab.haproxy.api(f"set weight {BACKEND}/blue-1 2").strip() == ""
    before = observed(lab)
    result = lab.switch(active="green", phase="commit", stage_id=STAGE)
    assert result.failed and "state changed since stage" in result["msg"], result
    assert observed(lab) == before
    assert before["runtime"]["blue-1"] == (0, 2)
    assert not record_path(lab).exists()
    assert lab.live() == {"blue": 20}


def test_file_changed_between_stage_and_commit_is_refused(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    with open(lab.path, "a", encoding="utf-8") as handle:
        handle.write("    # a hand edit\n")
    before = observed(lab)
    result = lab.switch(active="green", phase="commit", stage_id=STAGE)
    assert result.failed and "state changed since stage" in result["msg"], result
    assert observed(lab) == before
    assert not record_path(lab).exists()
    assert lab.live() == {"blue": 20}


def test_commit_with_other_arguments_is_refused(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    before = observed(lab)
    result = lab.switch(weights={"blue": 50, "green": 50}, phase="commit", stage_id=STAGE)
    assert result.failed and "asks for something else than was staged" in result["msg"], result
    assert "commands" in result["msg"] and "settings" in result["msg"]
    assert observed(lab) == before
    assert not record_path(lab).exists()
    assert lab.live() == {"blue": 20}


def test_abort_removes_only_its_own_stage(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    other = lab.switch(active="green", phase="abort", stage_id="another")
    assert not other.failed and not other["changed"], other
    assert record_path(lab).exists()
    before = observed(lab)
    aborted = lab.switch(active="green", phase="abort", stage_id=STAGE)
    assert not aborted.failed and aborted["changed"] and aborted["active"] == "blue", aborted
    assert not record_path(lab).exists()
    assert observed(lab) == before
    assert not lab.switch(active="green", phase="abort", stage_id=STAGE)["changed"]
    result = lab.switch(active="green", phase="commit", stage_id=STAGE)
    assert result.failed and "no staged change" in result["msg"], result
    assert lab.live() == {"blue": 20}


def test_check_mode_stage_and_commit_write_and_send_nothing(lab: Lab):
    before = observed(lab)
    staged = lab.switch(check_mode=True, diff=True, active="green", phase="stage", stage_id=STAGE)
    assert not staged.failed and not staged["staged"] and not staged["changed"], staged
    assert staged["commands"] == GREEN_COMMANDS and len(staged["diff"]) == 2
    assert not record_path(lab).exists()
    predicted = lab.switch(check_mode=True, active="green", phase="commit", stage_id=STAGE)
    assert not predicted.failed and predicted["changed"] and predicted["committed_at"] is None, predicted
    assert observed(lab) == before
    assert lab.live() == {"blue": 20}
    # A real stage, then a check-mode commit: the record stays for the real commit.
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    assert lab.switch(check_mode=True, active="green", phase="commit", stage_id=STAGE)["changed"]
    assert record_path(lab).exists() and observed(lab) == before


def test_second_stage_and_commit_change_nothing(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id="one")["staged"]
    assert lab.switch(active="green", phase="commit", stage_id="one")["changed"]
    before = observed(lab)
    staged = lab.switch(active="green", phase="stage", stage_id="two")
    assert not staged.failed and staged["staged"] and not staged["changed"] and staged["commands"] == [], staged
    assert json.loads(record_path(lab).read_text())["noop"]
    committed = lab.switch(active="green", phase="commit", stage_id="two")
    assert not committed.failed and not committed["changed"], committed
    assert committed["committed_at"] is None and committed["applied_at"] is None and committed["commands"] == []
    assert committed["commit_late_ms"] is None
    assert not record_path(lab).exists()
    assert observed(lab) == before


def test_apply_supersedes_a_pending_stage(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE)["staged"]
    applied = lab.switch(active="green")
    assert not applied.failed and applied["changed"] and not applied["staged"], applied
    assert any(f"superseded stage {STAGE}" in str(warning) for warning in applied.get("warnings", [])), applied
    assert not record_path(lab).exists()
    result = lab.switch(active="green", phase="commit", stage_id=STAGE)
    assert result.failed and "no staged change" in result["msg"], result


def test_apply_discards_an_expired_stage(lab: Lab):
    assert lab.switch(active="green", phase="stage", stage_id=STAGE, stage_ttl=0.2)["staged"]
    time.sleep(0.5)
    applied = lab.switch(active="blue")
    assert not applied.failed and not applied["changed"], applied
    assert any("removed the expired stage" in str(warning) for warning in applied.get("warnings", [])), applied
    assert not record_path(lab).exists()


def test_stage_refuses_a_configuration_haproxy_rejects(lab: Lab):
    # Another file in the loaded directory that also defines backend shop: haproxy -c refuses the candidate.
    before = observed(lab)
    clash = lab.haproxy.conf_d / "clash.cfg"
    clash.write_text(f"backend {BACKEND}\n    server x 127.0.0.1:9\n")
    try:
        result = lab.switch(active="green", phase="stage", stage_id=STAGE)
    finally:
        clash.unlink()
    assert result.failed and "staged candidate" in result["msg"] and result["haproxy_errors"], result
    # HAProxy's messages name the real directory, not the temporary copy.
    assert str(lab.haproxy.conf_d) in " ".join(result["haproxy_errors"]), result["haproxy_errors"]
    assert not record_path(lab).exists()
    assert observed(lab) == before


def test_stage_fails_when_haproxy_does_not_answer(lab: Lab):
    lab.haproxy.stop()
    before = digest(lab.path)
    result = lab.switch(active="green", phase="stage", stage_id=STAGE)
    assert result.failed and "admin socket" in result["msg"], result
    assert not record_path(lab).exists() and digest(lab.path) == before


def test_stage_and_commit_of_new_pools_reload_at_commit(lab: Lab):
    extra = ColourBackend("green", "2.0.1").start()
    try:
        pools = {"blue": [lab.backends["blue"].address], "green": [lab.backends["green"].address, extra.address]}
        before = observed(lab)
        staged = lab.switch(pools=pools, active="green", phase="stage", stage_id=STAGE)
        assert not staged.failed and staged["staged"] and not staged["changed"], staged
        assert staged["reload_reasons"] == [f"server green-2 ({extra.address}) is unknown to the running HAProxy"]
        assert observed(lab) == before
        result = lab.switch(pools=pools, active="green", phase="commit", stage_id=STAGE)
        assert not result.failed, result
        assert result["reloaded"] and result["committed_at"] is not None
        assert lab.haproxy.worker_pid() != before["worker"]
        assert lab.live(20) == {"green": 20}
        assert not record_path(lab).exists()
    finally:
        extra.stop()


def test_two_phase_needs_a_stage_id_and_commit_at_only_with_commit(lab: Lab):
    before = observed(lab)
    cases = [
        ({"phase": "stage"}, "phase is stage but all of the following are missing: stage_id"),
        ({"phase": "stage", "stage_id": STAGE, "commit_at": "2026-11-29T19:30:00Z"}, "commit_at is only used"),
        ({"phase": "commit", "stage_id": STAGE, "commit_at": "2026-11-29T19:30:00"}, "must name its time zone"),
        ({"phase": "commit", "stage_id": STAGE, "commit_at": str(time.time() + 3600)}, "in the future"),
        ({"phase": "stage", "stage_id": " "}, "phase=stage needs a non-empty stage_id"),
        ({"phase": "stage", "stage_id": STAGE, "stage_ttl": 0}, "stage_ttl=0.0"),
        ({"phase": "stage", "stage_id": STAGE, "apply": False}, "needs state=present and apply=true"),
    ]
    for overrides, message in cases:
        result = lab.switch(active="green", **overrides)
        assert result.failed and message in result["msg"], (overrides, result)
    assert observed(lab) == before and not record_path(lab).exists()
