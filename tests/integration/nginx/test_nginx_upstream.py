# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""nginx_upstream / nginx_upstream_info against a real nginx on loopback with real blue and green backends.

Every test reads the traffic itself (X-App-Color of the answers through nginx), not only the file.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import subprocess
import threading
import time

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.files import lock_path_for
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import DEFAULT_STATE_DIR
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.switch import state_base
from tests.conftest import execute_module, execute_playbook
from tests.lib.files import digest
from tests.lib.nginx import LoopbackNginx

from .conftest import UPSTREAM, Lab, wait_for_workers


def lock_of(path, state_dir) -> str:
    """The lock file of a managed file, in the test's state directory."""
    lock = lock_path_for(state_base(state_dir, str(path)))
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    return lock


def test_switch_moves_all_traffic_and_drains(lab: Lab):
    assert lab.live() == {"blue": 20}
    workers_before = lab.nginx.worker_pids()
    sent_at = datetime.datetime.now(datetime.timezone.utc)
    result = lab.switch(active="green", preview=True)
    assert not result.failed, result
    assert result["changed"] and result["reloaded"] and result["drained"]
    assert (result["active"], result["previous_active"], result["preview"]) == ("green", "blue", "blue")
    assert result["weights"] is None
    assert result["path"] == str(lab.path)
    timings = result["timings"]
    assert all(isinstance(timings[key], int) for key in ("validate_ms", "reload_ms", "drain_ms", "total_ms"))
    # reloaded_at falls inside the module run: after it started, before it returned.
    reloaded_at = datetime.datetime.fromisoformat(result["reloaded_at"].replace("Z", "+00:00"))
    assert sent_at <= reloaded_at <= datetime.datetime.now(datetime.timezone.utc), result["reloaded_at"]
    # The old generation is gone, a new one serves.
    assert workers_before.isdisjoint(lab.nginx.worker_pids())
    assert lab.live() == {"green": 20}
    assert lab.preview() == {"blue": 10}


def test_idempotent_rerun_writes_nothing_and_does_not_reload(lab: Lab):
    assert lab.switch(active="green", preview=True)["changed"]
    stat_before = os.stat(lab.path)
    workers = lab.nginx.worker_pids()
    again = lab.switch(active="green", preview=True)
    assert not again.failed, again
    assert not again["changed"] and not again["reloaded"] and again["reloaded_at"] is None
    assert (again["active"], again["previous_active"]) == ("green", "blue")
    stat_after = os.stat(lab.path)
    assert (stat_after.st_ino, stat_after.st_mtime_ns) == (stat_before.st_ino, stat_before.st_mtime_ns)
    assert lab.nginx.worker_pids() == workers
    assert lab.live() == {"green": 20}


def test_weights_split_traffic(lab: Lab):
    result = lab.switch(weights={"blue": 50, "green": 50}, preview=True, preview_colour="green")
    assert not result.failed, result
    assert result["weights"] == {"blue": 50, "green": 50}
    assert result["active"] is None and result["previous_active"] == "blue"
    counts = lab.live(60)
    assert counts.get("blue", 0) > 0 and counts.get("green", 0) > 0, counts
    assert sum(counts.values()) == 60
    assert lab.preview() == {"green": 10}
    # Weight 0 takes a colour out of the live upstream entirely.
    result = lab.switch(weights={"blue": 0, "green": 100}, preview=True)
    assert not result.failed, result
    assert result["previous_weights"] == {"blue": 50, "green": 50}
    assert lab.live(30) == {"green": 30}


def test_uneven_weights_follow_the_split(lab: Lab):
    assert not lab.switch(weights={"blue": 9, "green": 1}, preview=True).failed
    counts = lab.live(100)
    assert counts.get("blue", 0) > counts.get("green", 0) > 0, counts


def test_preview_follows_the_idle_colour(lab: Lab):
    assert lab.preview() == {"green": 10}
    assert not lab.switch(active="green", preview=True).failed
    assert lab.preview() == {"blue": 10}
    assert lab.live() == {"green": 20}


def test_check_mode_predicts_and_touches_nothing(lab: Lab):
    before = digest(lab.path)
    workers = lab.nginx.worker_pids()
    # Another run holds the lock: check mode must not wait for it (it would time out after 0.3 s).
    lock_fd = os.open(lock_of(lab.path, lab.state_dir), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        result = lab.switch(check_mode=True, diff=True, active="green", preview=True, lock_timeout=0.3)
    finally:
        os.close(lock_fd)
    assert not result.failed, result
    assert result["changed"] and not result["reloaded"]
    assert "server " + lab.backends["green"].address in result["diff"]["after"].split("upstream shop {")[1]
    assert digest(lab.path) == before
    assert lab.nginx.worker_pids() == workers
    assert lab.live() == {"blue": 20}
    # And it predicts "no change" when there is none.
    assert not lab.switch(check_mode=True, active="blue", preview=True)["changed"]


def test_diff_shows_file_before_and_after(lab: Lab):
    before_text = lab.path.read_text()
    result = lab.switch(diff=True, active="green", preview=True)
    assert result["diff"]["before"] == before_text
    assert result["diff"]["after"] == lab.path.read_text()
    assert result["diff"]["before_header"] == str(lab.path)
    # Without diff mode, no diff in the result.
    assert "diff" not in lab.switch(active="blue", preview=True)


def test_broken_configuration_elsewhere_refuses_the_switch(lab: Lab):
    before = digest(lab.path)
    workers = lab.nginx.worker_pids()
    broken = lab.nginx.sites / "broken.conf"
    broken.write_text("server { listen 127.0.0.1:1; bogus_directive on; }\n")
    result = lab.switch(active="green", preview=True)
    assert result.failed
    assert "unknown directive \"bogus_directive\"" in result["msg"]
    assert any("bogus_directive" in line for line in result["nginx_errors"])
    assert "restored" in result["msg"]
    assert digest(lab.path) == before
    assert lab.nginx.worker_pids() == workers
    assert lab.live() == {"blue": 20}
    broken.unlink()
    assert not lab.switch(active="green", preview=True).failed
    assert lab.live() == {"green": 20}


def test_candidate_nginx_rejects_is_restored(lab: Lab):
    before = digest(lab.path)
    pools = {"blue": [lab.backends["blue"].address], "green": ["no-such-host.invalid:8080"]}
    result = lab.switch(pools=pools, active="green")
    assert result.failed
    assert "host not found" in result["msg"]
    assert digest(lab.path) == before
    assert lab.nginx.test_config().returncode == 0, "no file nginx rejects is left on disk"
    assert lab.live() == {"blue": 20}


def test_file_not_included_is_refused_with_the_include_to_add(tmp_path, backends):
    nginx = LoopbackNginx(tmp_path / "nginx", include_conf_d=False).start()
    wait_for_workers(nginx)
    try:
        path = nginx.conf_d / "bluegreen_shop.conf"
        args = {"name": UPSTREAM, "pools": {c: [b.address] for c, b in backends.items()}, "active": "green",
                "path": str(path), **nginx.module_args()}
        workers = nginx.worker_pids()
        result = execute_module("nginx_upstream", args)
        assert result.failed
        assert f"include {nginx.conf_d}/*.conf;" in result["msg"]
        assert str(nginx.main_conf) in result["msg"]
        assert not path.exists()
        assert nginx.worker_pids() == workers
    finally:
        nginx.stop()


def test_nginx_not_running_fails_and_is_not_started(lab: Lab):
    lab.nginx.stop()
    before = digest(lab.path)
    result = lab.switch(active="green", preview=True)
    assert result.failed
    assert "nginx is not running" in result["msg"]
    assert digest(lab.path) == before
    assert lab.nginx.master_pid is None, "the module must never start nginx"
    # Traffic after a manual start is still the colour that was live.
    lab.nginx.start()
    wait_for_workers(lab.nginx)
    assert lab.live() == {"blue": 20}


def test_reload_that_nginx_does_not_apply_is_undone(lab: Lab):
    before = digest(lab.path)
    result = lab.switch(active="green", preview=True, reload_command=["/bin/true"], reload_timeout=0.5)
    assert result.failed
    assert "did not apply the new configuration" in result["msg"]
    assert digest(lab.path) == before
    assert lab.live() == {"blue": 20}


def test_concurrent_switches_serialise(lab: Lab):
    results = {}

    def run(tag, **args):
        results[tag] = lab.switch(**args)

    split = {"blue": 1, "green": 3}
    threads = [
        threading.Thread(target=run, args=("green",), kwargs={"active": "green", "preview": True}),
        threading.Thread(target=run, args=("split",), kwargs={"weights": split, "preview": True}),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not results["green"].failed, results["green"]
    assert not results["split"].failed, results["split"]
    # Serialised: the run that went second saw the first one's result as its previous state,
    # and the first one saw the initial state (blue).
    last = "green" if results["green"]["previous_weights"] == split else "split"
    if last == "green":
        assert results["green"]["previous_active"] is None
        assert results["split"]["previous_active"] == "blue"
    else:
        assert results["split"]["previous_active"] == "green"
        assert results["green"]["previous_active"] == "blue"
    info = execute_module("nginx_upstream_info", {"path": str(lab.path)})["upstreams"][UPSTREAM]
    assert info["consistent"] is True
    counts = lab.live(40)
    if last == "green":
        assert counts == {"green": 40}
    else:
        assert counts.get("green", 0) > counts.get("blue", 0) > 0, counts


def test_a_held_lock_blocks_the_switch_until_released(lab: Lab):
    lock_path = lock_of(lab.path, lab.state_dir)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    results = {}
    thread = threading.Thread(target=lambda: results.setdefault("r", lab.switch(active="green", preview=True)))
    before = digest(lab.path)
    thread.start()
    try:
        time.sleep(1.5)
        assert thread.is_alive(), "the switch must wait for the lock"
        assert lab.live() == {"blue": 20}
        assert digest(lab.path) == before
    finally:
        released_at = time.time()
        os.close(fd)
    thread.join(timeout=30)
    assert not results["r"].failed, results["r"]
    # The file was written only after the lock was released (file times use the kernel's coarse
    # clock, a few ms behind time.time(); the lock was held for 1.5 s).
    assert os.stat(lab.path).st_mtime >= released_at - 0.02
    assert lab.live() == {"green": 20}
    # A lock that is never released fails after lock_timeout, with nothing changed.
    fd = os.open(lock_path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        before = digest(lab.path)
        result = lab.switch(active="blue", preview=True, lock_timeout=0.3)
        assert result.failed and "could not lock" in result["msg"]
        assert digest(lab.path) == before
    finally:
        os.close(fd)
    assert lab.live() == {"green": 20}


def test_backup_copy_allows_a_one_command_manual_rollback(lab: Lab):
    original = lab.path.read_bytes()
    result = lab.switch(active="green", preview=True)
    assert result["backup_file"] == state_base(lab.state_dir, str(lab.path)) + ".previous"
    assert not os.path.exists(str(lab.path) + ".previous"), "no backup where nginx includes files"
    # The test's state_dir took the backup, the lock and the marker; the system default got nothing.
    assert os.path.exists(lock_path_for(state_base(lab.state_dir, str(lab.path))))
    for suffix in (".previous", ".reload-pending", ""):
        assert not os.path.exists(state_base(DEFAULT_STATE_DIR, str(lab.path)) + suffix)
    assert not os.path.exists(lock_path_for(state_base(DEFAULT_STATE_DIR, str(lab.path))))
    assert not os.path.exists(os.path.dirname(state_base(DEFAULT_STATE_DIR, str(lab.path)))), \
        "nothing of this test under /var/lib/switchyard"
    with open(result["backup_file"], "rb") as handle:
        assert handle.read() == original
    assert lab.live() == {"green": 20}
    nginx, conf = lab.nginx.module_args()["nginx_binary"], lab.nginx.module_args()["nginx_conf"]
    subprocess.run(["cp", "-p", result["backup_file"], str(lab.path)], check=True)
    subprocess.run([nginx, "-c", conf, "-t"], check=True, capture_output=True)
    subprocess.run([nginx, "-c", conf, "-s", "reload"], check=True, capture_output=True)
    deadline = time.monotonic() + 5
    while lab.live(10) != {"blue": 10} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lab.live() == {"blue": 20}


def test_idle_backup_takes_over_when_the_active_colour_is_down(lab: Lab):
    # No upstream keepalive here: the test backend keeps serving already open connections after stop().
    result = lab.switch(active="blue", idle_backup=True, balance="least_conn",
                        server_options={"max_fails": 1, "fail_timeout": "10s"}, preview=True)
    assert not result.failed, result
    assert "backup;" in lab.path.read_text()
    assert lab.live() == {"blue": 20}
    lab.backends["blue"].stop()
    assert lab.live() == {"green": 20}


def test_state_absent(lab: Lab):
    # The proxy sites still use the upstreams: nginx -t fails without the file, so it stays.
    before = digest(lab.path)
    result = execute_module("nginx_upstream", {"name": UPSTREAM, "path": str(lab.path), "state": "absent",
                                               **lab.nginx.module_args()})
    assert result.failed and "host not found in upstream" in result["msg"]
    assert digest(lab.path) == before
    assert lab.live() == {"blue": 20}
    for site in lab.nginx.sites.iterdir():
        site.unlink()
    args = {"name": UPSTREAM, "path": str(lab.path), "state": "absent", **lab.nginx.module_args()}
    assert execute_module("nginx_upstream", args, check_mode=True)["changed"]
    assert lab.path.exists()
    result = execute_module("nginx_upstream", args)
    assert not result.failed, result
    assert result["changed"] and result["reloaded"] and result["previous_active"] == "blue"
    assert not lab.path.exists()
    assert not execute_module("nginx_upstream", args)["changed"]


def test_info_reports_the_live_state(lab: Lab):
    assert not lab.switch(active="green", preview=True, keepalive=8).failed
    by_path = execute_module("nginx_upstream_info", {"path": str(lab.path)})
    assert not by_path.failed and not by_path["changed"]
    shop = by_path["upstreams"][UPSTREAM]
    assert (shop["active"], shop["previous_active"], shop["preview"]) == ("green", "blue", "blue")
    assert shop["preview_upstream"] == "shop_preview"
    assert shop["pools"] == {c: [b.address] for c, b in lab.backends.items()}
    assert shop["keepalive"] == 8 and shop["consistent"] is True
    assert shop["switched_at"].endswith("Z")
    listing = execute_module("nginx_upstream_info", {"conf_dir": str(lab.nginx.conf_d)})
    assert listing["upstreams"] == by_path["upstreams"]
    by_name = execute_module("nginx_upstream_info", {"name": UPSTREAM, "conf_dir": str(lab.nginx.conf_d)})
    assert by_name["upstreams"] == by_path["upstreams"]
    # The traffic agrees with what info reports.
    assert lab.live() == {shop["active"]: 20}
    checked = execute_module("nginx_upstream_info", {"path": str(lab.path), "check_included": True,
                                                     **lab.nginx.module_args()})
    assert checked["upstreams"][UPSTREAM]["included"] is True
    missing = execute_module("nginx_upstream_info", {"name": "nope", "conf_dir": str(lab.nginx.conf_d)})
    assert missing.failed and "does not exist" in missing["msg"]


def _bad(**overrides):
    return overrides


REJECTED = {
    "name with dash": (_bad(name="shop-1"), "name='shop-1' is not allowed"),
    "name with space": (_bad(name="shop app"), "is not allowed"),
    "colour with dash": (_bad(pools={"blue": ["127.0.0.1:1"], "gre-en": ["127.0.0.1:2"]}, active="blue"),
                         "pools colour"),
    "server with semicolon": (
        _bad(pools={"blue": ["127.0.0.1:1; server 10.9.9.9:80"], "green": ["127.0.0.1:2"]}), "not allowed in an address"
    ),
    "server with brace": (_bad(pools={"blue": ["127.0.0.1:1}"], "green": ["127.0.0.1:2"]}), "not allowed"),
    "server with space": (_bad(pools={"blue": ["127.0.0.1:1 backup"], "green": ["127.0.0.1:2"]}), "not allowed"),
    "server with quote": (_bad(pools={"blue": ["'127.0.0.1:1'"], "green": ["127.0.0.1:2"]}), "not allowed"),
    "server with dollar": (_bad(pools={"blue": ["$host:1"], "green": ["127.0.0.1:2"]}), "not allowed"),
    "server with newline": (_bad(pools={"blue": ["127.0.0.1:1\n}"], "green": ["127.0.0.1:2"]}), "not allowed"),
    "server without port": (_bad(pools={"blue": ["127.0.0.1"], "green": ["127.0.0.1:2"]}), "needs a port"),
    "unknown server parameter": (_bad(server_options={"slow_start": "10s"}), "slow_start"),
    "weight as server parameter": (_bad(server_options={"weight": 5}), "weight"),
    "bad fail_timeout": (_bad(server_options={"fail_timeout": "10 s"}), "duration"),
    "weight out of range": (_bad(active=None, weights={"blue": 1001, "green": 1}), "0 to 1000"),
    "negative weight": (_bad(active=None, weights={"blue": -1, "green": 1}), "0 to 1000"),
    "all weights zero": (_bad(active=None, weights={"blue": 0, "green": 0}), "all 0"),
    "active not a pool": (_bad(active="red"), "not a colour in pools"),
    "active and weights": (_bad(active="green", weights={"blue": 1, "green": 1}), "mutually exclusive"),
    "one pool": (_bad(pools={"blue": ["127.0.0.1:1"]}, active="blue"), "at least two colours"),
    "backup with ip_hash": (_bad(idle_backup=True, balance="ip_hash"), "does not allow backup"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected_input_changes_nothing(lab: Lab, case):
    overrides, message = REJECTED[case]
    before = digest(lab.path)
    workers = lab.nginx.worker_pids()
    args = lab.args(active="green")
    args.update(overrides)
    args = {key: value for key, value in args.items() if value is not None}
    result = execute_module("nginx_upstream", args)
    assert result.failed, result
    assert message in result["msg"], result["msg"]
    assert digest(lab.path) == before
    assert lab.nginx.worker_pids() == workers
    assert lab.live(10) == {"blue": 10}


def test_drain_timeout_warns_but_does_not_fail(lab: Lab):
    # A slow request keeps an old worker busy past drain_timeout.
    lab.backends["blue"].behaviour.delay_s = 3
    slow = {}
    thread = threading.Thread(target=lambda: slow.setdefault("answer", lab.nginx.get(UPSTREAM)))
    thread.start()
    time.sleep(0.3)
    result = lab.switch(active="green", preview=True, drain_timeout=0.5)
    assert not result.failed, result
    assert result["changed"] and result["reloaded"] and not result["drained"]
    # ansible-core 2.19 returns warnings as structured summaries: look for the text anywhere in them.
    assert any("still running after drain_timeout" in str(warning) for warning in result.get("warnings", [])), result
    assert 400 <= result["timings"]["drain_ms"] < 3000
    lab.backends["blue"].behaviour.delay_s = 0
    assert lab.live() == {"green": 20}
    thread.join(timeout=10)
    status, headers, _body = slow["answer"]
    # The request that was running on blue finished on blue.
    assert (status, headers["X-App-Color"]) == (200, "blue")


def test_playbook_with_module_defaults_group(lab: Lab, tmp_path):
    playbook = tmp_path / "switch.yml"
    playbook.write_text(f"""\
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/switchyard.bluegreen.bluegreen:
      nginx_binary: {lab.nginx.module_args()["nginx_binary"]}
      nginx_conf: {lab.nginx.module_args()["nginx_conf"]}
      state_dir: {lab.state_dir}
  tasks:
    - name: Switch to green
      switchyard.bluegreen.nginx_upstream:
        name: shop
        path: {lab.path}
        pools: {lab.args()["pools"]}
        active: green
        preview: true
      register: switch
    - name: Read it back
      switchyard.bluegreen.nginx_upstream_info:
        path: {lab.path}
        check_included: true
      register: info
    - name: Check
      ansible.builtin.assert:
        that:
          - switch is changed
          - switch.reloaded and switch.drained
          - info.upstreams.shop.active == 'green'
          - info.upstreams.shop.previous_active == 'blue'
          - info.upstreams.shop.included
""")
    proc = execute_playbook(playbook, inventory="localhost,")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed=0" in proc.stdout
    assert lab.live() == {"green": 20}


def test_switch_removes_the_temp_file_of_a_killed_run(lab: Lab):
    # What a run killed in the middle of its write leaves next to the managed file.
    stale = lab.path.parent / f".{lab.path.name}.k1ll3d.tmp"
    stale.write_text("upstream half-written {\n")
    assert lab.nginx.test_config().returncode == 0  # *.conf only: nginx never reads it
    result = lab.switch(active="green", preview=True)
    assert not result.failed and result["changed"], result
    assert not stale.exists()
    assert lab.live() == {"green": 20}
