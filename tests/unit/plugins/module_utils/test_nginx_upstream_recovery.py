# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Recovery paths of UpstreamSwitch: the reload-pending marker, write errors, missing programs."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import files as _files
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import switching as _switching
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import spec as up
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import switch as sw
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import (
    Nginx,
    NginxError,
    check_programs,
)

from .test_nginx_upstream_switch import FakeNginx, SwitchModule, desired, read, run, state_dir, write_initial


@pytest.fixture
def target(tmp_path):
    return str(tmp_path / "bluegreen_shop.conf")


def pending_marker(target):
    marker = sw.state_base(state_dir(target), target) + ".reload-pending"
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    return marker


class DyingNginx(FakeNginx):
    """The run dies inside the reload: a BaseException skips every restore, like SIGKILL."""

    def reload(self):
        self.calls.append("reload")
        raise KeyboardInterrupt


def test_marker_is_gone_after_a_confirmed_switch(target):
    write_initial(target)
    result = run(target, FakeNginx(target), desired("green"))
    assert result["reloaded"]
    assert not os.path.exists(pending_marker(target))


def test_rerun_after_death_between_write_and_reload_reloads(target):
    write_initial(target)
    with pytest.raises(KeyboardInterrupt):
        run(target, DyingNginx(target), desired("green"))
    spec = desired("green")
    # What a kill leaves: the candidate in place and the marker.
    assert up.same_state(spec, read(target))
    assert os.path.exists(pending_marker(target))

    nginx = FakeNginx(target)
    switch = sw.UpstreamSwitch(SwitchModule(), nginx, target, reload_timeout=2, drain_timeout=0,
                               state_dir=state_dir(target))
    try:
        result = switch.run(spec)
    finally:
        nginx.cleanup()
    assert result["changed"] is True and result["reloaded"] is True
    assert nginx.calls == ["dump", "reload"]
    assert any("did not confirm" in warning for warning in switch.warnings), switch.warnings
    assert not os.path.exists(pending_marker(target))
    # Converged now: the next run changes nothing.
    again = run(target, FakeNginx(target), spec)
    assert again["changed"] is False


def test_pending_reload_in_check_mode_is_predicted_not_done(target):
    write_initial(target, "green")
    open(pending_marker(target), "w").close()
    nginx = FakeNginx(target)
    result = run(target, nginx, desired("green"), check_mode=True)
    assert result["changed"] is True and result["reloaded"] is False
    assert nginx.calls == []
    assert os.path.exists(pending_marker(target))


def test_reload_false_leaves_no_marker_and_ignores_one(target):
    write_initial(target)
    run(target, FakeNginx(target), desired("green"), reload=False)
    assert not os.path.exists(pending_marker(target))
    open(pending_marker(target), "w").close()
    nginx = FakeNginx(target)
    assert run(target, nginx, desired("green"), reload=False)["changed"] is False
    assert nginx.calls == []


def test_failed_test_removes_marker_it_created(target):
    before = write_initial(target)
    with pytest.raises(sw.SwitchError):
        run(target, FakeNginx(target, errors=["[emerg] bad"]), desired("green"))
    assert read(target) == before
    assert not os.path.exists(pending_marker(target))


def test_write_error_is_a_clear_switch_error(target, monkeypatch):
    before = write_initial(target)

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # The managed file is written by the switch base class shared with haproxy_backend.
    monkeypatch.setattr(_switching, "write_atomic", disk_full)
    nginx = FakeNginx(target)
    with pytest.raises(sw.SwitchError) as caught:
        run(target, nginx, desired("green"))
    message = str(caught.value)
    assert f"cannot write {target}" in message and "errno 28" in message
    assert nginx.calls == []
    assert read(target) == before
    # Only the managed file is next to it: the lock lives in the state directory.
    assert sorted(os.listdir(os.path.dirname(target))) == ["bluegreen_shop.conf"]


class RaisingModule:
    def run_command(self, args, check_rc=False, handle_exceptions=True):
        assert handle_exceptions is False, "a missing program must raise, not fail_json"
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), args[0])


def test_missing_program_becomes_nginx_error():
    with pytest.raises(NginxError) as caught:
        Nginx(RaisingModule(), "/nonexistent/nginx").dump()
    assert "cannot run /nonexistent/nginx" in str(caught.value)


class BinModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return None


def test_check_programs_names_the_option(tmp_path):
    params = {"nginx_binary": "/nonexistent/sbin/nginx", "reload": True, "reload_command": None}
    with pytest.raises(up.UpstreamError, match="nginx_binary"):
        check_programs(BinModule(), params)
    # Check mode runs no program: no failure.
    assert check_programs(BinModule(check_mode=True), params) == "/nonexistent/sbin/nginx"
    binary = tmp_path / "nginx"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    params = {"nginx_binary": str(binary), "reload": True, "reload_command": ["no-such-reloader", "go"]}
    with pytest.raises(up.UpstreamError, match="reload_command"):
        check_programs(BinModule(), params)
    params["reload"] = False
    assert check_programs(BinModule(), params) == str(binary)


def test_resolve_program_rejects_non_executable(tmp_path):
    plain = tmp_path / "nginx"
    plain.write_text("")
    plain.chmod(0o644)
    with pytest.raises(_files.ProgramNotFoundError, match="not an executable"):
        _files.resolve_program(BinModule(), str(plain), "nginx_binary")
