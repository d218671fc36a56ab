# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The safe-swap sequence of UpstreamSwitch with a stand-in nginx (no nginx needed).

The stand-in's "master" is this test process: a reload starts a child process, which
is what a new nginx worker generation looks like in /proc.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import spec as up
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import switch as sw
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import NginxError

POOLS = {"blue": ["10.0.0.1:80"], "green": ["10.0.1.1:80"]}


def read(path):
    with open(path) as handle:
        return handle.read()


class SwitchModule:
    """The two AnsibleModule features the switch uses: check_mode and atomic_move."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def atomic_move(self, src, dest, unsafe_writes=False):
        if os.path.exists(dest):
            info = os.stat(dest)
            os.chmod(src, info.st_mode & 0o7777)
        os.rename(src, dest)


class FakeNginx:
    def __init__(self, path, *, running=True, included=True, errors=None, spawn_on_reload=True):
        self.path = path
        self.running = running
        self.included = included
        self.errors = errors
        self.spawn_on_reload = spawn_on_reload
        self.calls = []
        self.children = []
        self.seen_on_dump = []

    def dump(self):
        self.calls.append("dump")
        self.seen_on_dump.append(read(self.path) if os.path.exists(self.path) else None)
        if self.errors:
            raise NginxError("nginx -T failed", self.errors)
        files = ["/etc/nginx/nginx.conf"] + ([self.path] if self.included else [])
        return "".join(f"# configuration file {name}:\n" for name in files)

    def master_pid(self, dump):
        return (os.getpid() if self.running else None), "/run/nginx.pid"

    def reload(self):
        self.calls.append("reload")
        if self.spawn_on_reload:
            self.children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"]))

    def cleanup(self):
        for child in self.children:
            child.kill()
            child.wait()


@pytest.fixture
def target(tmp_path):
    return str(tmp_path / "bluegreen_shop.conf")


def desired(active="green", **extra):
    return up.build_spec(dict({"name": "shop", "pools": POOLS, "active": active}, **extra))


def write_initial(target, active="blue"):
    spec = desired(active)
    text = up.render_file(spec, up.next_metadata(spec, None, "t0"))
    with open(target, "w") as handle:
        handle.write(text)
    os.chmod(target, 0o640)
    return text


def state_dir(target):
    """The tests' state directory: a sibling of the managed file's directory, outside it."""
    return os.path.dirname(target) + "-state"


def backup_of(target):
    return sw.state_base(state_dir(target), target) + ".previous"


def run(target, nginx, spec, check_mode=False, **options):
    options = dict({"reload_timeout": 2, "drain_timeout": 0, "state_dir": state_dir(target)}, **options)
    switch = sw.UpstreamSwitch(SwitchModule(check_mode), nginx, target, **options)
    try:
        return switch.run(spec)
    finally:
        nginx.cleanup()


def test_switch_writes_tests_reloads_and_keeps_backup(target):
    before = write_initial(target)
    nginx = FakeNginx(target)
    result = run(target, nginx, desired("green"))
    assert result["changed"] and result["reloaded"]
    assert (result["active"], result["previous_active"]) == ("green", "blue")
    assert nginx.calls == ["dump", "reload"]
    # nginx -T saw the candidate, not the old file.
    assert "server 10.0.1.1:80;" in nginx.seen_on_dump[0]
    assert result["backup_file"] == backup_of(target)
    assert read(backup_of(target)) == before
    assert not os.path.exists(target + ".previous"), "no backup where nginx includes files"
    assert (os.stat(target).st_mode & 0o777) == 0o640, "mode of the managed file is kept"
    assert result["timings"]["validate_ms"] is not None
    assert result["timings"]["reload_ms"] is not None


def test_same_state_touches_nothing(target):
    before = write_initial(target, "blue")
    mtime = os.stat(target).st_mtime_ns
    nginx = FakeNginx(target)
    result = run(target, nginx, desired("blue"))
    assert not result["changed"]
    assert nginx.calls == []
    assert read(target) == before
    assert os.stat(target).st_mtime_ns == mtime
    assert not os.path.exists(backup_of(target))


def test_check_mode_predicts_and_touches_nothing(target):
    before = write_initial(target)
    nginx = FakeNginx(target)
    result = run(target, nginx, desired("green"), check_mode=True)
    assert result["changed"]
    # Check mode only reads nginx's configuration (nginx -T), to predict what nginx would refuse.
    assert nginx.calls == ["dump"]
    assert read(target) == before
    assert "server 10.0.1.1:80;" in result["diff"]["after"]
    assert not os.path.exists(os.path.join(os.path.dirname(target), ".bluegreen_shop.conf.lock"))
    assert not os.path.exists(state_dir(target))


def test_check_mode_predicts_what_nginx_would_refuse(target):
    write_initial(target)
    with pytest.raises(sw.SwitchError, match=r"is not included by nginx's configuration.*check mode, nothing was"):
        run(target, FakeNginx(target, included=False), desired("green"), check_mode=True)
    with pytest.raises(sw.SwitchError, match=r"does not pass its test already") as caught:
        run(target, FakeNginx(target, errors=["nginx: [emerg] bad"]), desired("green"), check_mode=True)
    assert caught.value.nginx_errors == ["nginx: [emerg] bad"]
    assert not os.path.exists(state_dir(target))


class DumpNginx(FakeNginx):
    """A stand-in whose nginx -T shows given files (path -> text) after the main file."""

    def __init__(self, path, files, **kwargs):
        super().__init__(path, **kwargs)
        self.files = files

    def dump(self):
        self.calls.append("dump")
        files = dict(self.files)
        texts = {"/etc/nginx/nginx.conf": files.pop("__main__", ""), **files}
        if os.path.exists(self.path):
            texts.setdefault(self.path, read(self.path))
        return "".join(f"# configuration file {name}:\n{text}\n" for name, text in texts.items())


def test_check_mode_names_a_duplicate_upstream_with_file_and_line(target, tmp_path):
    site = str(tmp_path / "site")
    main = f"http {{ include {site}; include {os.path.dirname(target)}/*.conf; }}\n"
    nginx = DumpNginx(target, {"__main__": main, site: "# mine\nupstream shop { server 10.9.9.9:80; }\n"})
    with pytest.raises(sw.SwitchError) as caught:
        run(target, nginx, desired("green"), check_mode=True)
    assert f"upstream shop in {site}:2" in str(caught.value) and "adopt: true" in str(caught.value)


def test_stream_context_refuses_http_only_options(target):
    main = f"stream {{ include {os.path.dirname(target)}/*.conf; }}\n"
    nginx = DumpNginx(target, {"__main__": main})
    with pytest.raises(sw.SwitchError, match=r"included in stream \{ \}.*no keepalive"):
        run(target, nginx, desired("green", keepalive=8), check_mode=True)


def test_stream_context_refuses_http_only_options_before_writing(target):
    # A real run: refused from the running configuration, so the file is never written (no restore needed).
    write_initial(target)
    before = read(target)
    main = f"stream {{ include {os.path.dirname(target)}/*.conf; }}\n"
    nginx = DumpNginx(target, {"__main__": main})
    with pytest.raises(sw.SwitchError, match=r"included in stream \{ \}.*no balance=ip_hash.*was not changed"):
        run(target, nginx, desired("green", balance="ip_hash"))
    assert read(target) == before
    assert "reload" not in nginx.calls
    assert not os.path.exists(sw.state_base(state_dir(target), target) + ".reload-pending")


@pytest.mark.parametrize(("main", "expected"), [
    ("stream {{ server {{ listen 1; proxy_pass other; }} }}\n", "inside the stream { } block"),
    ("http {{ }}\nstream {{ server {{ listen 1; proxy_pass shop; }} }}\n", "inside the stream { } block"),
    ("http {{ server {{ location / {{ proxy_pass http://shop/; }} }} }}\nstream {{ }}\n",
     "inside the http { } block"),
    ("http {{ }}\nstream {{ }}\n", "inside the http { } block or the stream { } block"),
])
def test_not_included_hint_names_the_block_that_uses_the_upstream(target, main, expected):
    nginx = DumpNginx(target, {"__main__": main.format()})
    with pytest.raises(sw.SwitchError, match="is not included") as caught:
        run(target, nginx, desired("green"), check_mode=True)
    assert expected in str(caught.value)


@pytest.mark.parametrize(("nginx_kwargs", "message"), [
    ({"errors": ["nginx: [emerg] host not found in upstream \"x:80\""]}, "host not found"),
    ({"included": False}, "include"),
    ({"running": False}, "nginx is not running"),
    ({"spawn_on_reload": False}, "did not apply the new configuration"),
])
def test_failures_restore_the_file_exactly(target, nginx_kwargs, message):
    before = write_initial(target)
    nginx = FakeNginx(target, **nginx_kwargs)
    with pytest.raises(sw.SwitchError, match=message) as failure:
        run(target, nginx, desired("green"), reload_timeout=0.2)
    assert read(target) == before
    assert (os.stat(target).st_mode & 0o777) == 0o640
    assert not os.path.exists(backup_of(target))
    assert "restored" in str(failure.value)
    if "errors" in nginx_kwargs:
        assert failure.value.nginx_errors == nginx_kwargs["errors"]
    if "spawn_on_reload" in nginx_kwargs:
        # A second reload after the restore, in case nginx picks the candidate up late.
        assert nginx.calls == ["dump", "reload", "reload"]


def test_first_write_that_fails_leaves_no_file(target):
    nginx = FakeNginx(target, included=False)
    with pytest.raises(sw.SwitchError, match="is not included"):
        run(target, nginx, desired("green"))
    assert not os.path.exists(target)


def test_unmanaged_file_is_never_overwritten(target):
    with open(target, "w") as handle:
        handle.write("upstream shop { server 1.1.1.1:80; }\n")
    with pytest.raises(sw.SwitchError, match="refusing to overwrite"):
        run(target, FakeNginx(target), desired("green"))
    assert read(target) == "upstream shop { server 1.1.1.1:80; }\n"


def test_absent_removes_and_restores_when_nginx_needs_the_file(target):
    before = write_initial(target)
    nginx = FakeNginx(target, errors=["nginx: [emerg] host not found in upstream \"shop\""])
    with pytest.raises(sw.SwitchError, match="host not found"):
        run(target, nginx, None)
    assert read(target) == before
    nginx = FakeNginx(target)
    result = run(target, nginx, None)
    assert result["changed"] and not os.path.exists(target)
    assert result["previous_active"] == "blue"
    assert result["backup_file"] == backup_of(target)
    result = run(target, FakeNginx(target), None)
    assert not result["changed"]


def test_reload_false_only_writes_and_tests(target):
    write_initial(target)
    nginx = FakeNginx(target, running=False)
    result = run(target, nginx, desired("green"), reload=False)
    assert result["changed"] and not result["reloaded"]
    assert nginx.calls == ["dump"]
