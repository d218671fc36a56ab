# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Atomic write, exact restore, backup copy and the exclusive lock."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import files as _files


class FakeModule:
    """atomic_move like AnsibleModule's: the destination's mode/owner win when it exists."""

    def __init__(self):
        self.moves = []

    def atomic_move(self, src, dest, unsafe_writes=False):
        if os.path.exists(dest):
            info = os.stat(dest)
            os.chmod(src, info.st_mode & 0o7777)
            os.chown(src, info.st_uid, info.st_gid)
        os.rename(src, dest)
        self.moves.append((src, dest))


def test_write_atomic_new_file_gets_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.conf"
    module = FakeModule()
    _files.write_atomic(module, str(target), b"hello\n")
    assert target.read_bytes() == b"hello\n"
    assert (target.stat().st_mode & 0o777) == 0o644
    assert os.path.dirname(module.moves[0][0]) == str(tmp_path), "temp file must be in the same directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf"]


def test_write_atomic_keeps_existing_mode(tmp_path):
    target = tmp_path / "a.conf"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    _files.write_atomic(FakeModule(), str(target), b"new")
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == 0o600


def test_snapshot_and_restore_exact(tmp_path):
    target = tmp_path / "a.conf"
    target.write_bytes(b"exact bytes \x00\xff\n")
    os.chmod(target, 0o640)
    snapshot = _files.FileSnapshot.take(str(target))
    assert snapshot.exists
    assert snapshot.mode == 0o640
    target.write_bytes(b"candidate")
    os.chmod(target, 0o644)
    _files.restore(FakeModule(), snapshot)
    assert target.read_bytes() == b"exact bytes \x00\xff\n"
    assert (target.stat().st_mode & 0o777) == 0o640


def test_restore_of_absent_file_removes_it(tmp_path):
    target = tmp_path / "a.conf"
    snapshot = _files.FileSnapshot.take(str(target))
    assert not snapshot.exists
    assert snapshot.text is None
    target.write_text("candidate")
    _files.restore(FakeModule(), snapshot)
    assert not target.exists()
    _files.restore(FakeModule(), snapshot)  # already absent: no error


def test_keep_backup(tmp_path):
    target = tmp_path / "a.conf"
    target.write_bytes(b"previous")
    os.chmod(target, 0o600)
    snapshot = _files.FileSnapshot.take(str(target))
    backup = _files.keep_backup(FakeModule(), snapshot, str(target) + ".previous")
    assert backup == str(target) + ".previous"
    assert (tmp_path / "a.conf.previous").read_bytes() == b"previous"
    assert ((tmp_path / "a.conf.previous").stat().st_mode & 0o777) == 0o600
    assert _files.keep_backup(FakeModule(), _files.FileSnapshot.take(str(tmp_path / "none")), "x") is None


def test_lock_file_is_hidden_and_not_a_conf(tmp_path):
    lock = _files.lock_path_for(str(tmp_path / "bluegreen_shop.conf"))
    assert os.path.basename(lock) == ".bluegreen_shop.conf.lock"
    assert not lock.endswith(".conf")


def test_lock_serialises_holders(tmp_path):
    target = str(tmp_path / "a.conf")
    events = []

    def holder(tag):
        with _files.exclusive_lock(target, timeout=10, poll_interval=0.005):
            events.append(("in", tag))
            time.sleep(0.1)
            events.append(("out", tag))

    threads = [threading.Thread(target=holder, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # No interleaving: each "in" is directly followed by its own "out".
    assert [kind for kind, _tag in events] == ["in", "out", "in", "out"]
    assert events[0][1] == events[1][1]


def test_lock_times_out(tmp_path):
    target = str(tmp_path / "a.conf")
    with _files.exclusive_lock(target), pytest.raises(_files.LockTimeoutError, match="another run still holds"), \
            _files.exclusive_lock(target, timeout=0.1):
        pass
    # Released afterwards.
    with _files.exclusive_lock(target, timeout=0.1):
        pass


def test_remove_stale_temp_files_takes_only_this_files_leftovers(tmp_path):
    path = tmp_path / "bluegreen_app.conf"
    path.write_text("live\n")
    stale = [tmp_path / ".bluegreen_app.conf.abc123.tmp", tmp_path / ".bluegreen_app.conf.zz9.tmp"]
    kept = [tmp_path / ".bluegreen_app.conf.lock", tmp_path / ".bluegreen_other.conf.abc.tmp",
            tmp_path / "bluegreen_app.conf.tmp", tmp_path / "other.conf"]
    for file in stale + kept:
        file.write_text("x")
    removed = _files.remove_stale_temp_files(str(path))
    assert sorted(removed) == sorted(f.name for f in stale)
    assert not any(f.exists() for f in stale)
    assert all(f.exists() for f in kept) and path.read_text() == "live\n"
    assert _files.remove_stale_temp_files(str(path)) == []  # nothing left: a no-op
