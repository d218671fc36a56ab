# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A switch attempted while the environment is broken: each is a clear error, nothing changes.

For every fault: the module fails with JSON (never a traceback), its message says what is
wrong and names the option or path involved, the managed file keeps its bytes, no file
appears or disappears next to it, and live traffic stays on blue.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.lib.nginx import LoopbackNginx, wait_for_workers

from .conftest import UPSTREAM, Lab, run_quiet, wait_for_single_generation


class Unchanged:
    """The managed file's bytes, its directory's listing and the live colour before a fault."""

    def __init__(self, lab: Lab, check_traffic: bool = True):
        self.lab = lab
        self.data = lab.file_bytes()
        self.listing = lab.dir_listing()
        self.workers = lab.nginx.worker_pids()
        if check_traffic:
            assert lab.live(10) == {"blue": 10}

    def assert_unchanged(self, check_traffic: bool = True) -> None:
        assert self.lab.file_bytes() == self.data, "the managed file changed"
        assert self.lab.dir_listing() == self.listing, "files appeared or disappeared next to the managed file"
        if check_traffic:
            wait_for_single_generation(self.lab.nginx)
            assert self.lab.live(10) == {"blue": 10}, "live traffic left blue"


def assert_clear_failure(result, *needles: str) -> None:
    assert not result.get("_no_json"), f"module crashed without a result: {result.stderr[-1500:]}"
    assert result.failed, result
    assert result.get("changed") in (None, False), result
    msg = result.get("msg") or ""
    for needle in needles:
        assert needle.lower() in msg.lower(), f"{needle!r} not in message: {msg}"


def test_nginx_stopped(lab, fault_log):
    fault_log.set("nginx_upstream: environment", "nginx stopped (no master process)",
                  "clear error naming the pid file; file unchanged; traffic on blue after nginx is started again")
    before = Unchanged(lab)
    lab.nginx.stop()
    result = lab.switch(active="green")
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert_clear_failure(result, "not running", str(lab.nginx.pid_file))
    before.assert_unchanged(check_traffic=False)
    lab.nginx.start()
    wait_for_workers(lab.nginx)
    before.assert_unchanged()


def test_nginx_configuration_broken_by_someone_else(lab, fault_log):
    fault_log.set("nginx_upstream: environment", "another file of nginx's configuration is broken (unknown directive)",
                  "clear error with nginx's own error line; file restored; running nginx keeps serving blue")
    before = Unchanged(lab)
    broken = lab.nginx.sites / "zz_broken.conf"
    broken.write_text("server {\n    listen 127.0.0.1:1;\n    bogus_directive on;\n}\n")
    try:
        result = lab.switch(active="green")
        fault_log.runs = 1
        fault_log.measured["msg"] = result.get("msg")
        assert_clear_failure(result, "bogus_directive", str(lab.path))
        assert any("bogus_directive" in line for line in result.get("nginx_errors", [])), result
        before.assert_unchanged()
    finally:
        broken.unlink()


def test_managed_file_not_included(lab, fault_log):
    fault_log.set("nginx_upstream: environment", "path in a directory that nginx's configuration does not include",
                  "clear error naming path and the include to add; no file left there; traffic on blue")
    elsewhere = lab.nginx.prefix / "not-included"
    elsewhere.mkdir()
    before = Unchanged(lab)
    target = elsewhere / f"bluegreen_{UPSTREAM}.conf"
    result = lab.switch(active="green", path=str(target))
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert_clear_failure(result, "not included", "include", "path")
    assert not target.exists(), "the candidate file was left in place"
    assert sorted(p.name for p in elsewhere.iterdir() if not p.name.startswith(".")) == []
    before.assert_unchanged()


def test_reload_command_fails(lab, fault_log):
    fault_log.set("nginx_upstream: environment", "reload command fails (exit 1)",
                  "clear error naming the command; file restored; traffic on blue")
    before = Unchanged(lab)
    result = lab.switch(active="green", reload_command=["false"])
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert_clear_failure(result, "reload command", "false")
    before.assert_unchanged()


def test_stale_pid_file(lab, fault_log):
    fault_log.set("nginx_upstream: environment", "nginx's pid file names a process that is not nginx",
                  "treated as not running: clear error; file unchanged; no signal sent to that process")
    before = Unchanged(lab)
    real = lab.nginx.pid_file.read_text()
    # Our own pid: alive, but not nginx. A reload must never signal it.
    lab.nginx.pid_file.write_text(f"{os.getpid()}\n")
    try:
        result = lab.switch(active="green")
        fault_log.runs = 1
        fault_log.measured["msg"] = result.get("msg")
        assert_clear_failure(result, "not running")
    finally:
        lab.nginx.pid_file.write_text(real)
    before.assert_unchanged()


# --------------------------------------------------------------------------- not writable, disk full


def make_immutable(directory: Path, mounts: list) -> str:
    """Make ``directory`` unwritable even for root: chattr +i, else a read-only bind mount."""
    done = run_quiet(["chattr", "+i", str(directory)])
    if done.returncode == 0:
        return "chattr +i"
    bind = run_quiet(["mount", "--bind", str(directory), str(directory)])
    if bind.returncode != 0:
        pytest.skip(f"cannot make {directory} unwritable: chattr: {done.stderr.strip()}; mount: {bind.stderr.strip()}")
    mounts.append(directory)
    remount = run_quiet(["mount", "-o", "remount,bind,ro", str(directory)])
    if remount.returncode != 0:
        pytest.skip(f"read-only remount of {directory} not permitted: {remount.stderr.strip()}")
    return "read-only bind mount"


def test_directory_not_writable(lab, fault_log, mounts):
    fault_log.set("nginx_upstream: environment", "directory of the managed file not writable (even for root)",
                  "clear error naming the directory; file unchanged; traffic on blue")
    before = Unchanged(lab)
    how = make_immutable(lab.path.parent, mounts)
    try:
        result = lab.switch(active="green")
        fault_log.runs = 1
        fault_log.measured["how"] = how
        fault_log.measured["msg"] = result.get("msg")
        fault_log.measured["crashed_without_json"] = bool(result.get("_no_json"))
        if how == "chattr +i":
            run_quiet(["chattr", "-i", str(lab.path.parent)])
        else:
            run_quiet(["umount", str(lab.path.parent)])
            mounts.remove(lab.path.parent)
        before.assert_unchanged()
        fault_log.measured["unchanged"] = True
        assert_clear_failure(result, str(lab.path.parent))
    finally:
        run_quiet(["chattr", "-i", str(lab.path.parent)])


@pytest.fixture
def small_disk_lab(tmp_path, backends, mounts):
    """A lab whose conf.d is a 64 KiB tmpfs mounted by the test."""
    nginx = LoopbackNginx(tmp_path / "nginx")
    mounted = run_quiet(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(nginx.conf_d)])
    if mounted.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {mounted.stderr.strip()}")
    mounts.append(nginx.conf_d)
    nginx.add_proxy_site(UPSTREAM)
    lab = Lab(nginx, *backends)
    first = lab.switch(active="blue", reload=False)
    assert not first.failed, first
    nginx.start()
    wait_for_workers(nginx)
    yield lab
    nginx.stop()


def fill_up(directory: Path) -> int:
    """Fill the filesystem of ``directory`` until ENOSPC; returns the bytes written."""
    written = 0
    with open(directory / "filler.bin", "wb", buffering=0) as handle:
        while True:
            try:
                written += handle.write(b"\0" * 1024)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return written


def test_disk_full(small_disk_lab, fault_log):
    lab = small_disk_lab
    fault_log.set("nginx_upstream: environment", "disk full (64 KiB tmpfs filled up)",
                  "clear error naming the file; file unchanged; traffic on blue; works again once space is freed")
    filled = fill_up(lab.path.parent)
    before = Unchanged(lab)
    result = lab.switch(active="green")
    fault_log.runs = 1
    fault_log.measured["filler_bytes"] = filled
    fault_log.measured["msg"] = result.get("msg")
    fault_log.measured["crashed_without_json"] = bool(result.get("_no_json"))
    before.assert_unchanged()
    fault_log.measured["unchanged"] = True
    assert_clear_failure(result, str(lab.path))
    # Freeing space is all the recovery needed.
    (lab.path.parent / "filler.bin").unlink()
    again = lab.switch(active="green")
    assert not again.failed, again
    wait_for_single_generation(lab.nginx)
    assert lab.live(10) == {"green": 10}
