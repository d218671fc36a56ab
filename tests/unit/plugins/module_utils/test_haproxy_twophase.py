# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two-phase haproxy_backend (StagedBackendSwitch) with a stand-in runtime API and wall clock.

What a real HAProxy cannot be made to do on demand is tested here: a runtime command that fails at
commit (the undo), and the order of the wait, the commands and the file write. The loopback suite
(tests/integration/haproxy/test_haproxy_backend_two_phase.py) covers the rest against a real HAProxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import staging
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (
    SwitchError as CommonSwitchError,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import FileSnapshot
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import process as hprocess
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import spec as hspec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import twophase
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.switch import BackendSwitch, SwitchError
from tests.unit.plugins.module_utils.test_haproxy_switch import FakeApi, FakeHaproxy, SwitchModule, spec


class WallClock:
    """A wall clock that only moves when slept on; every sleep is logged in ``events``."""

    def __init__(self, events, now=1_800_000_000.0):
        self.now = now
        self.events = events

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.events.append(("sleep", round(seconds, 3)))
        # sleep(0) yields the CPU: a little time passes, as on a real clock.
        self.now += max(seconds, 0.0005)


class LoggingApi(FakeApi):
    def __init__(self, servers, events, fail_on=None):
        super().__init__(servers, fail_on)
        self.events = events

    def command(self, command):
        self.events.append(("command", command))
        super().command(command)


class LoggingHaproxy(FakeHaproxy):
    def __init__(self, events, errors=None):
        super().__init__(errors)
        self.events = events
        self.candidates = []

    def check(self, path=None):
        self.events.append(("check", path))
        super().check(path)

    def check_candidate(self, path, text):
        self.events.append(("check_candidate", path))
        self.candidates.append(text)


@pytest.fixture
def lab(tmp_path):
    """shop on blue in its file and in the (fake) running HAProxy; events shared by api, haproxy and clock."""
    path = tmp_path / "bluegreen_shop.cfg"
    BackendSwitch(SwitchModule(), FakeHaproxy(), None, str(path), apply=False).run(spec(), "shop")
    events = []
    return {"path": path, "events": events, "api": LoggingApi({"blue-1": [0, 1], "green-1": [0, 0]}, events),
            "haproxy": LoggingHaproxy(events), "clock": WallClock(events)}


def staged_switch(lab, check_mode=False):
    return twophase.StagedBackendSwitch(
        SwitchModule(check_mode), lab["haproxy"], lab["api"], str(lab["path"]), drain_timeout=0,
        wall_clock=lab["clock"], wall_sleep=lab["clock"].sleep)


def record(lab):
    return staging.StageRecord.load(staging.stage_path(str(lab["path"])))


def test_stage_validates_a_copy_and_sends_nothing(lab):
    before = lab["path"].read_bytes()
    result = staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    assert result["staged"] and not result["changed"]
    assert result["commands"] == ["set weight shop/green-1 1", "set server shop/blue-1 state drain"]
    assert lab["events"] == [("check_candidate", str(lab["path"]))]
    assert lab["api"].commands == [] and lab["path"].read_bytes() == before
    saved = record(lab)
    assert saved.stage_id == "s1" and saved.expires == lab["clock"].now + 30
    assert saved.candidate == lab["haproxy"].candidates[0]
    assert "server green-1 10.0.1.1:80 weight 1" in saved.candidate


def test_commit_waits_then_sends_the_commands_then_writes_the_file(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    lab["events"].clear()
    commit_at = lab["clock"].now + 5
    result = staged_switch(lab).commit(spec(active="green"), "shop", None, "s1", commit_at)
    kinds = [event[0] for event in lab["events"]]
    # Validated before the wait; the traffic moves after it; the file follows the commands.
    assert kinds[0] == "check_candidate"
    first_sleep, first_command, file_check = kinds.index("sleep"), kinds.index("command"), kinds.index("check")
    assert first_sleep < first_command < file_check
    assert lab["clock"].now >= commit_at
    assert lab["api"].commands == ["set weight shop/green-1 1", "set server shop/blue-1 state drain"]
    assert result["changed"] and result["commit_at"] == staging.iso_ms(commit_at)
    assert result["committed_at"] == result["applied_at"] and 0.0 <= result["commit_late_ms"] < 1.0
    assert "server blue-1 10.0.0.1:80 weight 0" in lab["path"].read_text()
    assert record(lab) is None


def test_commit_reports_how_late_it_started(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    commit_at = lab["clock"].now - 0.25
    result = staged_switch(lab).commit(spec(active="green"), "shop", None, "s1", commit_at)
    assert result["commit_late_ms"] == 250.0
    assert not any(event[0] == "sleep" for event in lab["events"])


def test_a_command_failing_at_commit_puts_everything_back(lab):
    before = lab["path"].read_bytes()
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    lab["api"].fail_on = "set server shop/blue-1 state drain"
    with pytest.raises(SwitchError) as error:
        staged_switch(lab).commit(spec(active="green"), "shop", None, "s1", None)
    message = str(error.value)
    assert message.startswith("stage s1 could not be committed, the backend is back on its previous state")
    assert "No such server" in message
    # green was raised, then drained again: blue alone takes traffic, as before; the file was never replaced.
    assert lab["api"].commands == ["set weight shop/green-1 1", "set server shop/green-1 state drain"]
    assert lab["api"].servers == {"blue-1": [0, 1], "green-1": [8, 1]}
    assert lab["path"].read_bytes() == before
    assert record(lab) is None


def test_a_file_rejected_after_the_commands_is_undone(lab):
    before = lab["path"].read_bytes()
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    lab["haproxy"].errors = ["[ALERT] parsing error"]
    with pytest.raises(SwitchError) as error:
        staged_switch(lab).commit(spec(active="green"), "shop", None, "s1", None)
    assert "back on its previous state" in str(error.value) and error.value.haproxy_errors
    assert lab["path"].read_bytes() == before
    assert lab["api"].servers["blue-1"] == [0, 1] and lab["api"].servers["green-1"][0] & 0x08
    assert record(lab) is None


def test_commit_refuses_another_plan_and_removes_the_record(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    with pytest.raises(SwitchError, match=r"asks for something else than was staged \(commands, settings differ\)"):
        staged_switch(lab).commit(spec(weights={"blue": 50, "green": 50}, active=None), "shop", None, "s1", None)
    assert lab["api"].commands == [] and record(lab) is None


def test_commit_at_after_the_expiry_is_refused(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 10)
    with pytest.raises(SwitchError, match="is after stage s1 expires"):
        staged_switch(lab).commit(spec(active="green"), "shop", None, "s1", lab["clock"].now + 20)
    assert lab["api"].commands == [] and not any(event[0] == "sleep" for event in lab["events"])
    assert record(lab) is None


def test_commit_refuses_a_changed_runtime_state(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    lab["api"].servers["blue-1"] = [0, 2]
    with pytest.raises(CommonSwitchError, match="the state changed since stage s1"):
        staged_switch(lab).commit(spec(active="green"), "shop", None, "s1", None)
    assert lab["api"].commands == [] and record(lab) is None


def test_a_superseded_commit_leaves_the_newer_record(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    second = staged_switch(lab)
    second.stage(spec(active="green"), "shop", "s2", 30)
    assert any("superseded stage s1" in warning for warning in second.warnings)
    with pytest.raises(CommonSwitchError, match="has stage_id s2, not s1"):
        staged_switch(lab).commit(spec(active="green"), "shop", None, "s1", None)
    assert record(lab).stage_id == "s2" and lab["api"].commands == []


def test_check_mode_commit_does_not_remove_an_expired_record(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 1)
    lab["clock"].now += 2
    with pytest.raises(CommonSwitchError, match="expired"):
        staged_switch(lab, check_mode=True).commit(spec(active="green"), "shop", None, "s1", None)
    assert record(lab) is not None


def test_abort_in_check_mode_predicts_and_keeps_the_record(lab):
    staged_switch(lab).stage(spec(active="green"), "shop", "s1", 30)
    result = staged_switch(lab, check_mode=True).abort(spec(active="green"), "s1")
    assert result["changed"] and record(lab) is not None
    assert staged_switch(lab).abort(spec(active="green"), "s1")["changed"] and record(lab) is None


def test_state_hash_ignores_health_and_sees_admin_state_and_weight(lab):
    before = FileSnapshot.take(str(lab["path"]))
    rows = lab["api"].servers_state("shop")
    base = twophase.state_sha256(before, rows)
    flapping = [dict(row, srv_op_state="0", srv_last_time_change="12") for row in rows]
    assert twophase.state_sha256(before, flapping) == base
    assert twophase.state_sha256(before, [dict(rows[0], srv_uweight="2"), rows[1]]) != base
    assert twophase.state_sha256(before, [dict(rows[0], srv_admin_state="1"), rows[1]]) != base
    assert twophase.state_sha256(before, None) != base
    assert twophase.state_sha256(FileSnapshot(str(lab["path"])), rows) != base


def test_plan_signature_survives_the_record_round_trip(lab):
    switch = staged_switch(lab)
    desired = spec(active="green")
    plan = switch._plan(desired, "shop", FileSnapshot.take(str(lab["path"])))
    signature = twophase.plan_signature(desired, plan)
    assert json.loads(json.dumps(signature)) == signature
    assert twophase.signature_differences(signature, signature) == []


def phase_params(**overrides):
    params = {"phase": "stage", "stage_id": "s1", "stage_ttl": 60.0, "commit_at": None, "state": "present",
              "apply": True}
    params.update(overrides)
    return params


@pytest.mark.parametrize(("overrides", "message"), [
    ({"state": "absent"}, "phase=stage switches a running HAProxy: it needs state=present and apply=true"),
    ({"phase": "commit", "apply": False}, "phase=commit switches a running HAProxy"),
    ({"stage_id": ""}, "phase=stage needs a non-empty stage_id"),
    ({"commit_at": "2026-11-29T19:30:00Z"}, "commit_at is only used with phase=commit"),
    ({"stage_ttl": -1.0}, "stage_ttl=-1.0: use a number of seconds > 0"),
])
def test_phase_parameters_are_checked(overrides, message):
    with pytest.raises(InputError) as error:
        hspec.check_phase_params(phase_params(**overrides))
    assert str(error.value).startswith(message), str(error.value)


def test_phase_parameters_that_fit():
    hspec.check_phase_params(phase_params())
    hspec.check_phase_params(phase_params(phase="commit", commit_at="2026-11-29T19:30:00.250Z"))
    hspec.check_phase_params(phase_params(phase="apply", stage_id=None, state="absent", apply=False, commit_at=""))


class RunModule:
    """run_command for Haproxy: the real program."""

    def run_command(self, args, check_rc=False, handle_exceptions=True):
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


MAIN_CFG = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="no haproxy program")
def test_check_candidate_replaces_the_file_in_a_copy_of_its_directory(tmp_path):
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    main = tmp_path / "main.cfg"
    main.write_text(MAIN_CFG)
    managed = conf_d / "bluegreen_shop.cfg"
    managed.write_text("backend shop\n    server a 127.0.0.1:9\n")
    (conf_d / "other.cfg").write_text("backend other\n    server b 127.0.0.1:9\n")
    (conf_d / "notes.txt").write_text("not loaded by HAProxy: it is not *.cfg\n")
    (conf_d / ".hidden.cfg").write_text("not loaded by HAProxy: hidden\n")
    program = hprocess.Haproxy(RunModule(), HAPROXY, [str(main), str(conf_d)])
    before = managed.read_bytes()
    # Valid: the candidate replaces the managed file (otherwise "backend shop" would be defined twice).
    program.check_candidate(str(managed), "backend shop\n    server c 127.0.0.1:10\n")
    # The other loaded file is checked too: a candidate that clashes with it is refused, naming the real directory.
    with pytest.raises(hprocess.HaproxyCommandError) as error:
        program.check_candidate(str(managed), "backend other\n    server c 127.0.0.1:10\n")
    assert any(str(conf_d) in line for line in error.value.lines), error.value.lines
    assert managed.read_bytes() == before
