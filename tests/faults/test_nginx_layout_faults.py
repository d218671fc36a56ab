# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Faults of real nginx layouts (issue #14) on the Debian package's layout with a real nginx.

- a backup left by an earlier version where Debian's ``include sites-enabled/*;`` loads it;
- an ``upstream`` of the same name already defined in the operator's site;
- a run as another user after a root run created the lock.

Each: a clear result, ``nginx -t`` passes on disk afterwards, traffic where it should be.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import Nginx
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import build_spec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.switch import SwitchError, UpstreamSwitch
from tests.conftest import execute_module
from tests.lib.backends import ColourBackend
from tests.lib.nginx_layouts import LayoutNginx

SITE = """\
upstream shop {
    server @BLUE@;
}

server {
    listen 127.0.0.1:@PORT@;
    location / {
        include @PREFIX@/proxy_params;
        proxy_pass http://shop;
    }
}
"""


class DebianHost:
    """The Debian layout with the operator's site `sites-enabled/shop` (upstream shop on blue), nginx running."""

    def __init__(self, root: Path):
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.nginx = LayoutNginx("debian", root / "nginx", self.blue.address)
        self.root = self.nginx.root
        self.state_dir = root / "state"
        self.site = self.nginx.add_site("sites-enabled/shop", SITE.replace("@BLUE@", self.blue.address)
                                        .replace("@PREFIX@", str(self.root)), "app")
        # Debian's include loads every name in sites-enabled: the worst place for a backup.
        self.managed = self.root / "sites-enabled" / "bluegreen_shop"
        self.nginx.start()

    def args(self, **overrides) -> dict:
        args = {"name": "shop", "pools": {"blue": [self.blue.address], "green": [self.green.address]},
                "path": str(self.managed), "state_dir": str(self.state_dir), "drain_timeout": 5,
                **self.nginx.module_args(), **overrides}
        return args

    def switch(self, **overrides):
        return execute_module("nginx_upstream", self.args(**overrides))

    def nginx_t_passes(self) -> bool:
        return self.nginx.test_config().returncode == 0

    def close(self):
        self.nginx.stop()
        self.blue.stop()
        self.green.stop()


@pytest.fixture
def debian():
    root = Path(tempfile.mkdtemp(prefix="switchyard-fault-debian-"))
    os.chmod(root, 0o755)  # noqa: S103 - the layout's workers run as www-data
    host = DebianHost(root)
    try:
        yield host
    finally:
        host.close()
        shutil.rmtree(root, ignore_errors=True)


def test_backup_left_in_an_included_directory(debian, fault_log):
    fault_log.set("nginx_upstream: real layouts",
                  "earlier version's <path>.previous in Debian's sites-enabled/* (nginx loads it: duplicate upstream)",
                  "next run moves it to state_dir with a warning; nginx -t passes; traffic on the requested colour; "
                  "no auxiliary file in sites-enabled after further switches")
    first = debian.switch(active="blue", adopt=True)
    assert not first.failed, first
    shutil.copy(debian.managed, str(debian.managed) + ".previous")
    assert not debian.nginx_t_passes(), "the stray backup must break nginx -t (the state issue #14 describes)"
    result = debian.switch(active="green")
    fault_log.runs = 1
    fault_log.measured["warned"] = any("earlier version" in str(w) for w in result.get("warnings", []))
    assert not result.failed, result
    assert fault_log.measured["warned"], result
    assert not os.path.exists(str(debian.managed) + ".previous")
    assert debian.nginx_t_passes()
    assert debian.nginx.colours("app") == {"green": 12}
    for colour in ("blue", "green", "blue"):
        assert not debian.switch(active=colour).failed
        fault_log.runs += 1
        assert debian.nginx_t_passes()
    names = sorted(os.listdir(debian.root / "sites-enabled"))
    fault_log.measured["sites_enabled"] = names
    assert names == ["bluegreen_shop", "default", "shop"]
    assert debian.nginx.colours("app") == {"blue": 12}


def test_duplicate_upstream_in_the_operators_site(debian, fault_log):
    fault_log.set("nginx_upstream: real layouts", "upstream shop already defined in sites-enabled/shop",
                  "without adopt: error naming sites-enabled/shop:1 and adopt: true, nothing changed; "
                  "with adopt: one definition, the site's other bytes kept, traffic on blue")
    site_before = debian.site.read_bytes()
    result = debian.switch(active="blue")
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert result.failed
    assert f"upstream shop in {debian.site}:1" in result["msg"] and "adopt: true" in result["msg"], result["msg"]
    assert debian.site.read_bytes() == site_before and not debian.managed.exists()
    assert debian.nginx_t_passes()
    adopted = debian.switch(active="blue", adopt=True)
    fault_log.runs += 1
    assert not adopted.failed, adopted
    assert debian.site.read_text().endswith(site_before.decode().split("}\n", 1)[1])
    assert debian.nginx_t_passes()
    assert debian.nginx.colours("app") == {"blue": 12}


class FakeModule:
    check_mode = False


def test_non_root_run_after_a_root_run(debian, fault_log):
    fault_log.set("nginx_upstream: real layouts", "a run as nobody after a root run created the lock file",
                  "clear error naming the lock's owner and the fix (become / chown); managed file unchanged; "
                  "traffic unchanged")
    assert not debian.switch(active="blue", adopt=True).failed
    before = debian.managed.read_bytes()
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child drops to nobody and runs the switch in-process (the venv is not readable by nobody)
        os.close(read_end)
        message = "no error"
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            spec = build_spec({"name": "shop", "pools": debian.args()["pools"], "active": "green"})
            nginx = Nginx(FakeModule(), debian.nginx.module_args()["nginx_binary"], str(debian.nginx.main_conf),
                          prefix=str(debian.root))
            UpstreamSwitch(FakeModule(), nginx, str(debian.managed), state_dir=str(debian.state_dir),
                           lock_timeout=1).run(spec)
        except SwitchError as exc:
            message = str(exc)
        except BaseException as exc:
            message = f"unexpected {type(exc).__name__}: {exc}"
        os.write(write_end, json.dumps(message).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = json.loads(pipe.read())
    os.waitpid(pid, 0)
    fault_log.runs = 1
    fault_log.measured["msg"] = message
    assert "belongs to root" in message and "this run is nobody" in message, message
    assert "become" in message and "chown -R nobody" in message, message
    assert debian.managed.read_bytes() == before
    assert debian.nginx_t_passes()
    assert debian.nginx.colours("app") == {"blue": 12}
