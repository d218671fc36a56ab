# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""UpstreamSwitch's two-phase mode (stage / commit / abort) with a stand-in nginx (no nginx needed).

As in test_nginx_upstream_switch, the stand-in's master is this test process and a reload
starts a child process (a new worker generation in /proc).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import staging
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (
    SwitchError as SwitchyardSwitchError,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import process as _process
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import spec as up
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import switch as sw
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import Nginx, NginxError

from .test_nginx_upstream_switch import FakeNginx, SwitchModule, desired, read, state_dir, write_initial


class StagingNginx(FakeNginx):
    """FakeNginx plus what a commit uses: the master from the stage's pid file and the direct reload."""

    def __init__(self, path, **kwargs):
        super().__init__(path, **kwargs)
        self.reload_fails = 0  # the next N reloads start no new generation (nginx refused the configuration)

    def master_pid(self, dump):
        self.calls.append("master_pid")
        return super().master_pid(dump)

    def test(self):
        self.calls.append("test")

    def master_of(self, pid_file):
        self.calls.append("master_of")
        return os.getpid() if self.running else None

    def reload_master(self, master):
        assert master == os.getpid()
        if self.reload_fails:
            self.reload_fails -= 1
            self.calls.append("reload")
            return
        self.reload()


@pytest.fixture
def target(tmp_path):
    return str(tmp_path / "bluegreen_shop.conf")


def switch_for(target, nginx, check_mode=False, **options):
    options = dict({"reload_timeout": 0.5, "drain_timeout": 0, "state_dir": state_dir(target)}, **options)
    return sw.UpstreamSwitch(SwitchModule(check_mode), nginx, target, **options)


def record_of(target):
    return staging.StageRecord.load(staging.stage_path(sw.state_base(state_dir(target), target)))


def marker_of(target):
    return sw.state_base(state_dir(target), target) + ".reload-pending"


def temp_files(target):
    directory, name = os.path.split(target)
    return [entry for entry in os.listdir(directory) if entry.startswith(f".{name}.") and entry.endswith(".tmp")]


def do_stage(target, spec, stage_id="s1", ttl=60.0, nginx=None, **options):
    nginx = nginx or StagingNginx(target)
    try:
        return switch_for(target, nginx, **options).stage(spec, stage_id, ttl), nginx
    finally:
        nginx.cleanup()


def do_commit(target, spec, stage_id="s1", commit_at=None, nginx=None, **options):
    nginx = nginx or StagingNginx(target)
    switch = switch_for(target, nginx, **options)
    try:
        return switch.commit(spec, stage_id, commit_at), nginx, switch
    finally:
        nginx.cleanup()


# --- stage ---------------------------------------------------------------------------------


def test_stage_tests_the_candidate_in_place_and_puts_the_file_back(target):
    before = write_initial(target)
    mode = os.stat(target).st_mode & 0o777
    result, nginx = do_stage(target, desired("green"))
    assert result["staged"] is True and result["changed"] is False and result["reloaded"] is False
    assert "reload" not in nginx.calls
    # nginx -T saw the candidate; afterwards the file is back byte for byte, with its mode.
    assert "server 10.0.1.1:80;" in nginx.seen_on_dump[0]
    assert read(target) == before and (os.stat(target).st_mode & 0o777) == mode
    assert not os.path.exists(marker_of(target))
    record = record_of(target)
    assert record.stage_id == "s1" and not record.noop
    assert record.base_sha256 == staging.sha256_text(before)
    assert record.candidate == nginx.seen_on_dump[0] == result["diff"]["after"]
    assert record.candidate_sha256 == staging.sha256_text(record.candidate)
    assert record.details["pid_file"] == "/run/nginx.pid"
    assert result["stage_expires_at"] == record.expires_at
    assert (result["active"], result["previous_active"]) == ("green", "blue")


def test_stage_of_the_state_already_there_is_a_noop_record(target):
    write_initial(target, "green")
    result, nginx = do_stage(target, desired("green"))
    assert result["staged"] and not result["changed"]
    assert nginx.calls == [], "nothing to test: no nginx -T"
    assert record_of(target).noop and record_of(target).candidate is None


def test_stage_keeps_a_marker_that_was_there_before(target):
    write_initial(target, "green")
    os.makedirs(os.path.dirname(marker_of(target)), exist_ok=True)
    open(marker_of(target), "w").close()
    _result, nginx = do_stage(target, desired("green"))
    # The file holds the state but nginx may not run it: the stage tests it and the commit will reload.
    assert not record_of(target).noop and nginx.calls[0] == "dump"
    assert os.path.exists(marker_of(target))


def test_stage_that_nginx_rejects_restores_and_stages_nothing(target):
    before = write_initial(target)
    nginx = StagingNginx(target, errors=["nginx: [emerg] host not found in upstream \"x\""])
    with pytest.raises(sw.SwitchError) as caught:
        do_stage(target, desired("green"), nginx=nginx)
    assert caught.value.nginx_errors == ["nginx: [emerg] host not found in upstream \"x\""]
    assert "nothing was staged" in str(caught.value) and "host not found" in str(caught.value)
    assert read(target) == before
    assert record_of(target) is None and not os.path.exists(marker_of(target))


def test_stage_needs_a_running_nginx(target):
    before = write_initial(target)
    with pytest.raises(sw.SwitchError, match="nginx is not running"):
        do_stage(target, desired("green"), nginx=StagingNginx(target, running=False))
    assert read(target) == before and record_of(target) is None


def test_stage_in_check_mode_writes_nothing(target):
    before = write_initial(target)
    result, _nginx = do_stage(target, desired("green"), check_mode=True)
    assert result["staged"] is False and not result["changed"]
    assert "server 10.0.1.1:80;" in result["diff"]["after"]
    assert read(target) == before and record_of(target) is None


def test_stage_of_another_id_supersedes_with_a_warning(target):
    write_initial(target)
    do_stage(target, desired("green"), "old")
    nginx = StagingNginx(target)
    switch = switch_for(target, nginx)
    try:
        switch.stage(desired("green"), "new", 60.0)
    finally:
        nginx.cleanup()
    assert record_of(target).stage_id == "new"
    assert any("superseded" in warning and "old" in warning for warning in switch.warnings), switch.warnings


def test_apply_supersedes_a_stage_also_when_it_changes_nothing(target):
    write_initial(target)
    do_stage(target, desired("green"))
    nginx = StagingNginx(target)
    switch = switch_for(target, nginx)
    try:
        result = switch.run(desired("blue"))
    finally:
        nginx.cleanup()
    assert result["changed"] is False and result["staged"] is False
    assert record_of(target) is None
    assert any("superseded" in warning and "s1" in warning for warning in switch.warnings)


# --- commit --------------------------------------------------------------------------------


def test_commit_prepares_everything_before_the_sleep(target, monkeypatch):
    before = write_initial(target)
    do_stage(target, desired("green"))
    seen = {}

    def sleeping(epoch):
        seen["epoch"] = epoch
        seen["file"] = read(target)
        seen["temp"] = [read(os.path.join(os.path.dirname(target), name)) for name in temp_files(target)]
        seen["marker"] = os.path.exists(marker_of(target))
        seen["calls"] = list(nginx.calls)
        return 12.5

    monkeypatch.setattr(staging, "sleep_until", sleeping)
    nginx = StagingNginx(target)
    instant = time.time() + 1
    result, nginx, _switch = do_commit(target, desired("green"), commit_at=instant, nginx=nginx)
    record_candidate = result["diff"]["after"]
    # While asleep: the file is the old one, the candidate waits in a temp file, the master is known.
    assert seen["epoch"] == instant
    assert seen["file"] == before and seen["temp"] == [record_candidate] and seen["marker"]
    assert seen["calls"] == ["master_of"], "no nginx -T or -t at commit time"
    # After: renamed, reloaded once, confirmed, record and marker gone, backup kept.
    assert nginx.calls == ["master_of", "reload"]
    assert read(target) == record_candidate and temp_files(target) == []
    assert result["changed"] and result["reloaded"] and result["commit_late_ms"] == 12.5
    assert result["commit_at"] == staging.iso_ms(instant)
    assert result["committed_at"] is not None and result["reloaded_at"] is not None
    assert record_of(target) is None and not os.path.exists(marker_of(target))
    assert read(result["backup_file"]) == before


def test_commit_without_reload_only_renames(target):
    write_initial(target)
    do_stage(target, desired("green"), reload=False)
    result, nginx, _switch = do_commit(target, desired("green"), reload=False)
    assert nginx.calls == [] and result["changed"] and not result["reloaded"]
    assert up.same_state(desired("green"), read(target))


def test_commit_that_nginx_does_not_take_restores_and_reloads_again(target):
    before = write_initial(target)
    do_stage(target, desired("green"))
    nginx = StagingNginx(target)
    nginx.reload_fails = 1
    with pytest.raises(sw.SwitchError) as caught:
        do_commit(target, desired("green"), nginx=nginx)
    message = str(caught.value)
    assert "no new worker generation" in message and "back on its previous file" in message
    assert "nginx was reloaded with it" in message
    assert nginx.calls == ["master_of", "reload", "test", "reload"]
    assert read(target) == before
    assert record_of(target) is None and not os.path.exists(marker_of(target)) and temp_files(target) == []


def test_commit_refuses_other_arguments_and_removes_the_stage(target):
    before = write_initial(target)
    do_stage(target, desired("green"))
    with pytest.raises(sw.SwitchError, match="same arguments"):
        do_commit(target, desired("green", keepalive=8))
    assert read(target) == before and record_of(target) is None


def test_commit_refuses_an_instant_after_the_stage_expires(target):
    before = write_initial(target)
    do_stage(target, desired("green"), ttl=5.0)
    with pytest.raises(sw.SwitchError, match="after stage s1 expires"):
        do_commit(target, desired("green"), commit_at=time.time() + 30)
    assert read(target) == before and record_of(target) is None


def test_commit_after_a_hand_edit_is_refused(target):
    write_initial(target)
    do_stage(target, desired("green"))
    with open(target, "a") as handle:
        handle.write("# hand edit\n")
    edited = read(target)
    # The shared claim's refusal (SwitchyardError family; the module reports every one of them).
    with pytest.raises(SwitchyardSwitchError, match="state changed"):
        do_commit(target, desired("green"))
    assert read(target) == edited and record_of(target) is None


def test_commit_of_a_noop_stage_changes_nothing(target):
    text = write_initial(target, "green")
    do_stage(target, desired("green"))
    result, nginx, _switch = do_commit(target, desired("green"))
    assert result["changed"] is False and nginx.calls == [] and result["committed_at"] is None
    assert read(target) == text and record_of(target) is None


def test_commit_in_check_mode_checks_and_keeps_the_stage(target):
    before = write_initial(target)
    do_stage(target, desired("green"))
    result, nginx, _switch = do_commit(target, desired("green"), check_mode=True)
    assert result["changed"] is True and nginx.calls == []
    assert read(target) == before and record_of(target) is not None
    with pytest.raises(sw.SwitchError, match="same arguments"):
        do_commit(target, desired("blue"), check_mode=True)
    assert record_of(target) is not None


def test_commit_when_nginx_stopped_changes_nothing(target):
    before = write_initial(target)
    do_stage(target, desired("green"))
    with pytest.raises(sw.SwitchError, match="not committed"):
        do_commit(target, desired("green"), nginx=StagingNginx(target, running=False))
    assert read(target) == before and temp_files(target) == [] and not os.path.exists(marker_of(target))


class DyingNginx(StagingNginx):
    """The run dies right after the rename, in the reload (a BaseException skips every undo, like SIGKILL)."""

    def reload_master(self, master):
        self.calls.append("reload")
        raise KeyboardInterrupt


def test_death_after_the_rename_leaves_the_candidate_and_the_marker_for_the_next_run(target):
    write_initial(target)
    do_stage(target, desired("green"))
    with pytest.raises(KeyboardInterrupt):
        do_commit(target, desired("green"), nginx=DyingNginx(target))
    assert up.same_state(desired("green"), read(target))
    assert os.path.exists(marker_of(target))
    # The next run of the same state reloads (the marker) and converges.
    nginx = StagingNginx(target)
    try:
        result = switch_for(target, nginx).run(desired("green"))
    finally:
        nginx.cleanup()
    assert result["changed"] and result["reloaded"]
    assert not os.path.exists(marker_of(target))


def test_death_during_the_sleep_leaves_the_file_and_a_marker(target, monkeypatch):
    before = write_initial(target)
    do_stage(target, desired("green"))

    def interrupted(epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(staging, "sleep_until", interrupted)
    nginx = StagingNginx(target)
    with pytest.raises(KeyboardInterrupt):
        do_commit(target, desired("green"), commit_at=time.time() + 5, nginx=nginx)
    assert read(target) == before and "reload" not in nginx.calls
    assert os.path.exists(marker_of(target)), "the next run reloads, which is harmless"


# --- abort and dispatch ---------------------------------------------------------------------


def test_abort_removes_only_its_own_stage_and_not_in_check_mode(target):
    before = write_initial(target)
    do_stage(target, desired("green"))
    nginx = StagingNginx(target)
    assert switch_for(target, nginx).abort(desired("green"), "other")["changed"] is False
    assert switch_for(target, nginx, check_mode=True).abort(desired("green"), "s1")["changed"] is True
    assert record_of(target) is not None
    result = switch_for(target, nginx).abort(desired("green"), "s1")
    assert result["changed"] is True and result["active"] == "blue"
    assert record_of(target) is None and read(target) == before and nginx.calls == []


def test_run_phase_parses_commit_at_before_anything(target):
    write_initial(target)
    switch = switch_for(target, StagingNginx(target))
    params = {"phase": "commit", "stage_id": "s1", "commit_at": str(time.time() + 3600), "stage_ttl": 60}
    with pytest.raises(sw.staging.InputError, match="in the future"):
        sw.run_phase(switch, desired("green"), params)


@pytest.mark.parametrize("overrides, words", [
    ({"phase": "stage", "state": "absent"}, "state=absent"),
    ({"phase": "commit", "adopt": True}, "adopt=true"),
])
def test_check_phase_refuses_what_two_phases_do_not_stage(overrides, words):
    with pytest.raises(up.UpstreamError, match=words):
        up.check_phase(dict({"state": "present", "adopt": False}, **overrides))
    up.check_phase({"phase": "abort", "state": "absent", "adopt": True})
    up.check_phase({"phase": "apply", "state": "absent", "adopt": True})


# --- the direct reload of a commit -------------------------------------------------------------


class CommandModule:
    def __init__(self):
        self.commands = []

    def run_command(self, args, check_rc=False, handle_exceptions=True):
        self.commands.append(args)
        return 0, "", ""


def test_reload_master_signals_sighup_without_a_reload_command(monkeypatch):
    sent = []
    monkeypatch.setattr(_process.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    module = CommandModule()
    Nginx(module, "/usr/sbin/nginx").reload_master(4242)
    assert sent == [(4242, signal.SIGHUP)] and module.commands == []


def test_reload_master_runs_a_custom_reload_command(monkeypatch):
    monkeypatch.setattr(_process.os, "kill", lambda pid, sig: pytest.fail("no signal with a reload_command"))
    module = CommandModule()
    Nginx(module, "/usr/sbin/nginx", reload_command=["systemctl", "reload", "nginx"]).reload_master(4242)
    assert module.commands == [["systemctl", "reload", "nginx"]]


def test_reload_master_of_a_gone_master_is_an_nginx_error(monkeypatch):
    def gone(pid, sig):
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(_process.os, "kill", gone)
    with pytest.raises(NginxError, match="cannot signal the nginx master 4242"):
        Nginx(CommandModule(), "/usr/sbin/nginx").reload_master(4242)


def test_master_from_pid_file_guards_against_a_stale_pid(tmp_path):
    pid_file = tmp_path / "nginx.pid"
    assert _process.master_from_pid_file(str(pid_file)) is None
    pid_file.write_text(f"{os.getpid()}\n")
    # This test process is alive but is not an nginx master.
    assert _process.master_from_pid_file(str(pid_file)) is None


class DyingDumpNginx(StagingNginx):
    """The stage dies while nginx -T tests the candidate in place (like SIGKILL: no restore runs)."""

    def dump(self):
        self.calls.append("dump")
        raise KeyboardInterrupt


def test_death_during_the_stage_test_is_finished_by_the_next_stage_and_commit(target):
    write_initial(target)
    with pytest.raises(KeyboardInterrupt):
        do_stage(target, desired("green"), nginx=DyingDumpNginx(target))
    # What a kill there leaves: the candidate in the file (nginx never loaded it) and the marker; no record.
    assert up.same_state(desired("green"), read(target))
    assert os.path.exists(marker_of(target)) and record_of(target) is None
    # The next stage sees the marker: not a no-op, so its commit reloads nginx at the instant.
    result, _nginx = do_stage(target, desired("green"))
    assert result["staged"] and not record_of(target).noop
    committed, nginx, _switch = do_commit(target, desired("green"))
    assert committed["changed"] and committed["reloaded"] and nginx.calls == ["master_of", "reload"]
    assert not os.path.exists(marker_of(target))


def test_a_late_commit_applies_at_once_and_says_how_late(target):
    write_initial(target)
    do_stage(target, desired("green"))
    result, _nginx, switch = do_commit(target, desired("green"), commit_at=time.time() - 5)
    assert result["reloaded"] and result["commit_late_ms"] >= 5000
    assert any("after commit_at" in warning for warning in switch.warnings), switch.warnings


def test_apply_removes_an_expired_stage_with_a_warning(target):
    write_initial(target)
    do_stage(target, desired("green"), ttl=0.05)
    time.sleep(0.1)
    nginx = StagingNginx(target)
    switch = switch_for(target, nginx)
    try:
        result = switch.run(desired("green"))
    finally:
        nginx.cleanup()
    assert result["changed"] and result["reloaded"]
    assert record_of(target) is None
    assert any("expired stage s1" in warning for warning in switch.warnings), switch.warnings
    assert not any("superseded" in warning for warning in switch.warnings)
