# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What nginx_upstream and haproxy_backend share: the managed file's format and the switch's file handling."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import files as _files
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import switching as _switching
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import FileSnapshot
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import render as hx
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import spec as up


def body(spec):
    return f"pool {spec['name']}\n"


FORMAT = _switching.ManagedFormat("switchyard.bluegreen.example", ("name", "active", "weights"), "9.9.9", body)


def spec(**overrides):
    values = {"name": "shop", "active": "blue", "weights": None}
    values.update(overrides)
    return values


class Module:
    check_mode = False

    def atomic_move(self, src, dest, unsafe_writes=False):
        os.rename(src, dest)


class RefusedError(Exception):
    pass


class Switch(_switching.ManagedFileSwitch):
    managed = FORMAT
    error = RefusedError
    timing_keys = ("lock_ms", "validate_ms", "total_ms")


def make_switch(path, **overrides):
    options = {"reload_timeout": 1.0, "drain_timeout": 0.0, "backup": True, "lock_timeout": 0.0}
    options.update(overrides)
    return Switch(Module(), str(path), **options)


def test_both_modules_keep_their_file_format():
    assert up.METADATA_PREFIX == "# switchyard.bluegreen.nginx_upstream: "
    assert up.FORMAT.header == (
        "# Managed by switchyard.bluegreen.nginx_upstream. Manual edits are overwritten on the next run.\n"
    )
    assert hx.FORMAT.prefix == "# switchyard.bluegreen.haproxy_backend: "
    assert hx.FORMAT.header == (
        "# Managed by switchyard.bluegreen.haproxy_backend. Manual edits are overwritten on the next run.\n"
    )
    # One module's file is not the other's.
    pools = {"blue": ["127.0.0.1:1"], "green": ["127.0.0.1:2"]}
    nginx_text = up.render_file(up.build_spec({"name": "shop", "pools": pools, "active": "blue"}), {"name": "shop"})
    assert up.is_managed(nginx_text) and not hx.FORMAT.is_managed(nginx_text)


def test_render_split_and_same_state():
    metadata = FORMAT.next_metadata(spec(), None, "t0")
    text = FORMAT.render(spec(), metadata)
    assert text.startswith(FORMAT.header + FORMAT.prefix + "{")
    assert FORMAT.split(text) == (metadata, "pool shop\n")
    assert metadata["module_version"] == "9.9.9" and metadata["switched_at"] == "t0"
    assert FORMAT.same_state(spec(), text)
    assert not FORMAT.same_state(spec(active="green"), text)
    assert not FORMAT.same_state(spec(), None)
    assert not FORMAT.is_managed("pool shop\n" + FORMAT.prefix + "{}\n")
    assert not FORMAT.is_managed(FORMAT.prefix + "[1]\n")
    assert not FORMAT.is_managed(FORMAT.prefix + "{broken\n")


def test_switched_at_moves_only_with_the_traffic():
    first = FORMAT.next_metadata(spec(), None, "t0")
    assert (first["previous_active"], first["switched_at"]) == (None, "t0")
    same = FORMAT.next_metadata(spec(name="other"), first, "t1")
    assert (same["previous_active"], same["switched_at"], same["updated_at"]) == (None, "t0", "t1")
    moved = FORMAT.next_metadata(spec(active="green"), same, "t2")
    assert (moved["previous_active"], moved["switched_at"]) == ("blue", "t2")


def test_desired_text():
    absent = FileSnapshot("/nowhere")
    assert FORMAT.desired(None, absent, "t0") == (None, None)
    present = FileSnapshot("/x", FORMAT.render(spec(), FORMAT.next_metadata(spec(), None, "t0")).encode())
    assert FORMAT.desired(None, present, "t1") == ("", None)
    text, metadata = FORMAT.desired(spec(), present, "t1")
    assert text is None and metadata["switched_at"] == "t0"
    text, metadata = FORMAT.desired(spec(active="green"), present, "t1")
    assert FORMAT.split(text)[0] == metadata and metadata["previous_active"] == "blue"


def test_traffic_summary():
    metadata = {"active": "green", "weights": None, "previous_active": "blue", "previous_weights": None,
                "switched_at": "t1", "name": "shop"}
    assert _switching.traffic_summary(spec(), metadata, None) == {
        "active": "green", "weights": None, "previous_active": "blue", "previous_weights": None, "switched_at": "t1"}
    # Removing the file: nothing is live, what it held is the previous traffic.
    assert _switching.traffic_summary(None, None, metadata) == {
        "active": None, "weights": None, "previous_active": "green", "previous_weights": None, "switched_at": None}
    assert _switching.traffic_summary(None, None, None)["previous_active"] is None


def test_lcm():
    assert _switching.lcm([]) == 1
    assert _switching.lcm([2, 3, 4]) == 12


def test_write_error_names_the_file_and_the_fix():
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _switching.write_error("/etc/x/a.conf", exc) == (
        f"cannot write /etc/x/a.conf: {os.strerror(errno.ENOSPC)} (errno 28): free space on its filesystem or make "
        "/etc/x writable, or set path to another file"
    )
    switch = make_switch("/etc/x/a.conf")
    assert switch._write_error("/etc/x/.marker", exc).endswith("; /etc/x/a.conf was not changed")


def test_options_and_timings(tmp_path):
    switch = make_switch(tmp_path / "a.conf")
    assert switch.backup_path == str(tmp_path / "a.conf") + ".previous"
    assert switch.timings == {"lock_ms": None, "validate_ms": None, "total_ms": None}
    with switch._timed("validate_ms"):
        pass
    result = switch._finish(switch.clock(), {"changed": False})
    assert result["timings"] is switch.timings
    assert isinstance(switch.timings["validate_ms"], int) and isinstance(switch.timings["total_ms"], int)


def test_missing_directory_and_unmanaged_file(tmp_path):
    with pytest.raises(RefusedError, match=r"does not exist: create it\Z"):
        make_switch(tmp_path / "missing" / "a.conf")._require_directory(": create it")
    target = tmp_path / "a.conf"
    target.write_text("pool hand-written\n")
    with pytest.raises(RefusedError, match=r"was not written by switchyard\.bluegreen\.example"):
        make_switch(target)._snapshot()
    assert target.read_text() == "pool hand-written\n"


def test_lock_held_by_another_run(tmp_path):
    target = tmp_path / "a.conf"
    switch = make_switch(target)
    held = _files.exclusive_lock(str(target))
    with held, pytest.raises(RefusedError) as caught, switch._locked():
        pass
    assert str(caught.value).startswith(f"could not lock {target}: another run still holds")
    with switch._locked():
        assert switch.timings["lock_ms"] is not None


def test_lock_file_that_cannot_be_created(tmp_path, monkeypatch):
    lock_file = _files.lock_path_for(str(tmp_path / "a.conf"))

    def refuse(path, timeout):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), lock_file)

    monkeypatch.setattr(_switching, "exclusive_lock", refuse)
    with pytest.raises(RefusedError) as caught, make_switch(tmp_path / "a.conf")._locked():
        pass
    assert str(caught.value).startswith(f"cannot write {lock_file}: ")
    assert str(caught.value).endswith(f"{tmp_path / 'a.conf'} was not changed")


def test_write_and_remove(tmp_path):
    target = tmp_path / "a.conf"
    switch = make_switch(target)
    switch._write_file(spec(), "new\n")
    assert target.read_text() == "new\n"
    switch._write_file(None, None)
    assert not target.exists()


def test_backup_failure_is_a_warning(tmp_path, monkeypatch):
    target = tmp_path / "a.conf"
    target.write_text("old\n")
    before = FileSnapshot.take(str(target))
    result = {"backup_file": None}
    make_switch(target, backup=False)._keep_backup(before, result)
    assert result["backup_file"] is None and not os.path.exists(str(target) + ".previous")
    switch = make_switch(target)
    switch._keep_backup(before, result)
    assert result["backup_file"] == str(target) + ".previous"

    def disk_full(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_switching, "keep_backup", disk_full)
    result = {"backup_file": None}
    switch._keep_backup(before, result)
    assert result["backup_file"] is None
    assert switch.warnings == [f"could not keep the previous file as {target}.previous: {os.strerror(errno.ENOSPC)}"]


def test_reload_after_restore_failure_is_a_warning(tmp_path):
    class ProgramError(Exception):
        def __init__(self, lines):
            super().__init__("failed")
            self.lines = lines

    def reload():
        raise ProgramError(["line one", "line two"])

    switch = make_switch(tmp_path / "a.conf")
    switch._reload_after_restore(reload, ProgramError)
    assert switch.warnings == [f"reload after restoring {tmp_path / 'a.conf'} failed: line one | line two"]
