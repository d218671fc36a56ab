# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""BackendSwitch with a stand-in runtime API and haproxy program: order, check mode, undo on failure."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import switching as _switching
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import process as hprocess
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import runtime as hruntime
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import spec as hspec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import switch as hswitch

POOLS = {"blue": ["10.0.0.1:80"], "green": ["10.0.1.1:80"]}
ADDRESSES = {"blue-1": ("10.0.0.1", "80"), "green-1": ("10.0.1.1", "80")}


class SwitchModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def atomic_move(self, src, dest, unsafe_writes=False):
        os.rename(src, dest)


class FakeApi:
    """Keeps server states like HAProxy does and applies the commands it gets."""

    def __init__(self, servers, fail_on=None):
        self.servers = servers  # name -> [admin, weight]
        self.fail_on = fail_on
        self.commands = []

    def servers_state(self, backend):
        return [{"srv_name": name, "srv_addr": ADDRESSES[name][0], "srv_port": ADDRESSES[name][1],
                 "srv_op_state": "2", "srv_admin_state": str(admin), "srv_uweight": str(weight)}
                for name, (admin, weight) in self.servers.items()]

    def command(self, command):
        if command == self.fail_on:
            raise hruntime.RuntimeApiError(f"HAProxy refused '{command}': No such server.")
        self.commands.append(command)
        parts = command.split()
        server = parts[2].split("/")[1]
        if parts[1] == "weight":
            self.servers[server][1] = int(parts[3])
        else:
            self.servers[server][0] = {"ready": 0, "drain": 8, "maint": 1}[parts[4]]

    def execute(self, command):
        return "1\n# be_id be_name srv_id srv_name\n"

    def stat(self):
        return []

    def info(self):
        return {"Pid": "1"}


class FakeHaproxy:
    def __init__(self, errors=None):
        self.errors = errors
        self.checks = 0
        self.reloads = 0

    def check(self, path=None):
        self.checks += 1
        if self.errors:
            raise hprocess.HaproxyCommandError("haproxy -c failed", self.errors)

    def reload(self):
        self.reloads += 1


def spec(**overrides):
    params = {"name": "shop", "pools": POOLS, "active": "blue", "state_file": None}
    params.update(overrides)
    return hspec.build_spec(params)


@pytest.fixture
def deployed(tmp_path):
    """A managed file with shop on blue, and a running HAProxy (fake) in the same state."""
    path = tmp_path / "bluegreen_shop.cfg"
    first = hswitch.BackendSwitch(SwitchModule(), FakeHaproxy(), None, str(path), apply=False)
    first.run(spec(), "shop")
    api = FakeApi({"blue-1": [0, 1], "green-1": [0, 0]})
    return path, api


def switch(path, api, haproxy=None, check_mode=False, **kwargs):
    return hswitch.BackendSwitch(SwitchModule(check_mode), haproxy or FakeHaproxy(), api, str(path),
                                 drain_timeout=0, **kwargs)


def test_switch_sends_ready_first_and_persists(deployed):
    path, api = deployed
    result = switch(path, api).run(spec(active="green"), "shop")
    assert result["changed"] and not result["reloaded"]
    assert api.commands == ["set weight shop/green-1 1", "set server shop/blue-1 state drain"]
    assert "server blue-1 10.0.0.1:80 weight 0" in path.read_text()


def test_check_mode_sends_nothing_and_writes_nothing(deployed):
    path, api = deployed
    before = path.read_text()
    result = switch(path, api, check_mode=True).run(spec(active="green"), "shop")
    assert result["changed"]
    assert result["commands"] == ["set weight shop/green-1 1", "set server shop/blue-1 state drain"]
    assert api.commands == [] and path.read_text() == before


def test_failure_mid_switch_puts_the_live_colour_back(deployed):
    path, api = deployed
    before = path.read_text()
    api.fail_on = "set server shop/blue-1 state drain"
    with pytest.raises(hswitch.SwitchError) as error:
        switch(path, api).run(spec(active="green"), "shop")
    assert "No such server" in str(error.value) and "restored" in str(error.value)
    assert path.read_text() == before
    # green was raised, then drained again: blue alone takes traffic, as before.
    assert api.commands == ["set weight shop/green-1 1", "set server shop/green-1 state drain"]
    assert api.servers == {"blue-1": [0, 1], "green-1": [8, 1]}


def test_failed_file_restore_still_puts_the_runtime_back_and_says_so(deployed, monkeypatch):
    path, api = deployed
    api.fail_on = "set server shop/blue-1 state drain"

    def read_only(module, snapshot):
        raise OSError(errno.EROFS, "Read-only file system", snapshot.path)

    monkeypatch.setattr(hswitch, "restore", read_only)
    with pytest.raises(hswitch.SwitchError) as error:
        switch(path, api).run(spec(active="green"), "shop")
    message = str(error.value)
    assert message.startswith(f"restoring {path} failed: Read-only file system (errno {errno.EROFS})"), message
    assert "run the switch again" in message
    # The runtime still went back: blue alone takes traffic, as before.
    assert api.servers == {"blue-1": [0, 1], "green-1": [8, 1]}


def test_rejected_file_is_restored_and_nothing_is_sent(deployed):
    path, api = deployed
    before = path.read_text()
    with pytest.raises(hswitch.SwitchError) as error:
        switch(path, api, haproxy=FakeHaproxy(errors=["[ALERT] parsing error"])).run(spec(active="green"), "shop")
    assert error.value.haproxy_errors == ["[ALERT] parsing error"]
    assert path.read_text() == before and api.commands == []


def test_unmanaged_file_is_never_overwritten(tmp_path):
    path = tmp_path / "bluegreen_shop.cfg"
    path.write_text("backend shop\n    server a 1.2.3.4:80\n")
    with pytest.raises(hswitch.SwitchError, match=r"not written by switchyard\.bluegreen\.haproxy_backend"):
        switch(path, FakeApi({})).run(spec(), "shop")
    assert path.read_text() == "backend shop\n    server a 1.2.3.4:80\n"


def test_drift_is_converged_with_the_file_unchanged(deployed):
    path, api = deployed
    api.servers["green-1"] = [0, 1]  # someone enabled green by hand
    result = switch(path, api).run(spec(), "shop")
    assert result["changed"] and result["drift"] == ["green-1: running ready weight 1, file says drain"]
    assert api.commands == ["set server shop/green-1 state drain"]
    assert "diff" in result and len(result["diff"]) == 1  # runtime only, the file was right


def test_backup_failure_after_a_switch_is_a_warning(deployed, monkeypatch):
    path, api = deployed

    def disk_full(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_switching, "keep_backup", disk_full)
    backend = switch(path, api)
    result = backend.run(spec(active="green"), "shop")
    assert result["changed"] and result["backup_file"] is None
    assert api.commands == ["set weight shop/green-1 1", "set server shop/blue-1 state drain"]
    assert backend.warnings == [f"could not keep the previous file as {path}.previous: {os.strerror(errno.ENOSPC)}"]


def test_lock_file_error_is_a_switch_error(deployed, monkeypatch):
    path, api = deployed
    before = path.read_text()

    def refuse(lock_path, timeout):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{path.parent}/.{path.name}.lock")

    monkeypatch.setattr(_switching, "exclusive_lock", refuse)
    with pytest.raises(hswitch.SwitchError, match=r"^cannot write .*\.lock: .* was not changed$"):
        switch(path, api).run(spec(active="green"), "shop")
    assert path.read_text() == before and api.commands == []
