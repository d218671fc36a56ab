# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""haproxy_backend / haproxy_backend_info against a real HAProxy on loopback with real blue and green backends.

Every test reads the traffic itself (X-Bluegreen-Color of the answers through HAProxy's frontend).
"""

from __future__ import annotations

import datetime
import http.client
import os
import threading
import time

from tests.lib.backends import ColourBackend
from tests.lib.files import digest
from tests.lib.ports import LOOPBACK

from .conftest import BACKEND, Lab, runtime_states


def test_switch_moves_all_traffic_through_the_runtime_api(lab: Lab):
    assert lab.live() == {"blue": 20}
    worker = lab.haproxy.worker_pid()
    sent_at = datetime.datetime.now(datetime.timezone.utc)
    result = lab.switch(active="green")
    assert not result.failed, result
    assert result["changed"] and not result["reloaded"] and result["drained"]
    # applied_at: when the runtime commands went out, inside the module run.
    applied_at = datetime.datetime.fromisoformat(result["applied_at"].replace("Z", "+00:00"))
    assert sent_at <= applied_at <= datetime.datetime.now(datetime.timezone.utc), result["applied_at"]
    assert (result["active"], result["previous_active"], result["weights"]) == ("green", "blue", None)
    # The target is made ready before the old colour leaves, never the reverse.
    assert result["commands"] == [f"set weight {BACKEND}/green-1 1", f"set server {BACKEND}/blue-1 state drain"]
    assert result["runtime"]["green-1"]["state"] == "ready" and result["runtime"]["blue-1"]["state"] == "drain"
    assert all(isinstance(result["timings"][key], int) for key in ("validate_ms", "switch_ms", "drain_ms", "total_ms"))
    assert result["timings"]["reload_ms"] is None
    assert lab.haproxy.worker_pid() == worker, "a colour switch must not reload HAProxy"
    assert lab.live() == {"green": 20}
    # The file persists the choice: green serves, blue weight 0.
    text = lab.path.read_text()
    assert "server green-1 {} weight 1".format(lab.backends["green"].address) in text
    assert "server blue-1 {} weight 0".format(lab.backends["blue"].address) in text
    assert "blue-1" in lab.haproxy.state_file.read_text()
    assert result["backup_file"] == f"{lab.path}.previous" and os.path.exists(result["backup_file"])


def test_idempotent_rerun_sends_and_writes_nothing(lab: Lab):
    assert lab.switch(active="green")["changed"]
    file_stat = os.stat(lab.path)
    state_digest = digest(lab.haproxy.state_file)
    again = lab.switch(active="green")
    assert not again.failed, again
    assert not again["changed"] and again["commands"] == [] and again["applied_at"] is None and again["drift"] == []
    assert (again["active"], again["previous_active"]) == ("green", "blue")
    after = os.stat(lab.path)
    assert (after.st_ino, after.st_mtime_ns) == (file_stat.st_ino, file_stat.st_mtime_ns)
    assert digest(lab.haproxy.state_file) == state_digest
    assert lab.live() == {"green": 20}


def test_check_mode_predicts_and_changes_nothing(lab: Lab):
    before = digest(lab.path)
    runtime_before = runtime_states(lab)
    result = lab.switch(check_mode=True, diff=True, active="green")
    assert not result.failed, result
    assert result["changed"]
    assert result["commands"] == [f"set weight {BACKEND}/green-1 1", f"set server {BACKEND}/blue-1 state drain"]
    file_diff, runtime_diff = result["diff"]
    assert "weight 0" in file_diff["after"] and file_diff["before"] != file_diff["after"]
    assert runtime_diff["after"] == "blue-1 drain\ngreen-1 ready weight 1\n"
    assert digest(lab.path) == before
    assert runtime_states(lab) == runtime_before
    assert lab.live() == {"blue": 20}


def test_weights_split_and_zero_weight(lab: Lab):
    result = lab.switch(weights={"blue": 50, "green": 50})
    assert not result.failed, result
    assert result["weights"] == {"blue": 50, "green": 50} and result["active"] is None
    assert not result["reloaded"]
    counts = lab.live(40)
    assert counts == {"blue": 20, "green": 20}, counts  # roundrobin with equal weights alternates exactly
    result = lab.switch(weights={"green": 100})
    assert not result.failed, result
    assert result["weights"] == {"blue": 0, "green": 100}
    assert result["previous_weights"] == {"blue": 50, "green": 50}
    assert lab.live(20) == {"green": 20}


def test_maint_old_state_persists_as_disabled(lab: Lab):
    result = lab.switch(active="green", old_state="maint")
    assert not result.failed, result
    assert result["commands"][-1] == f"set server {BACKEND}/blue-1 state maint"
    assert result["runtime"]["blue-1"]["state"] == "maint"
    assert "weight 0 disabled" in lab.path.read_text()
    assert lab.live() == {"green": 20}
    lab.haproxy.reload()
    assert lab.live() == {"green": 20}
    assert runtime_states(lab)["blue-1"][0] & 0x01  # forced maintenance again after the reload


def test_reload_keeps_the_state(lab: Lab):
    assert lab.switch(active="green")["changed"]
    old_worker = lab.haproxy.worker_pid()
    lab.haproxy.reload()
    assert lab.haproxy.worker_pid() != old_worker
    assert lab.live() == {"green": 20}
    again = lab.switch(active="green")
    assert not again["changed"] and again["drift"] == [], again


def test_restart_keeps_the_state(lab: Lab):
    assert lab.switch(weights={"blue": 25, "green": 75})["changed"]
    lab.haproxy.restart()
    counts = lab.live(40)
    assert counts == {"blue": 10, "green": 30}, counts
    again = lab.switch(weights={"blue": 25, "green": 75})
    assert not again["changed"] and again["drift"] == [], again


def test_drift_is_reported_and_converged(lab: Lab):
    assert lab.switch(active="green")["changed"]
    # Someone puts blue back by hand.
    lab.haproxy.api(f"set weight {BACKEND}/blue-1 1")
    lab.haproxy.api(f"set server {BACKEND}/blue-1 state ready")
    assert set(lab.live(20)) == {"blue", "green"}
    info = lab.info()
    backend = info["backends"][BACKEND]
    assert backend["active"] == "green" and backend["runtime_active"] is None
    assert backend["drift"] == ["blue-1: running ready weight 1, file says drain"]
    assert not backend["in_sync"]
    result = lab.switch(active="green")
    assert not result.failed, result
    assert result["changed"] and result["drift"] == ["blue-1: running ready weight 1, file says drain"]
    assert result["commands"] == [f"set server {BACKEND}/blue-1 state drain"]
    assert lab.live() == {"green": 20}
    assert lab.info()["backends"][BACKEND]["in_sync"]


def test_drain_wait_lets_a_long_request_finish(lab: Lab):
    lab.backends["blue"].behaviour.delay_s = 1.5
    outcome = {}

    def slow_request():
        outcome["answer"] = lab.haproxy.get("/slow")

    thread = threading.Thread(target=slow_request)
    thread.start()
    deadline = time.monotonic() + 5
    while lab.backends["blue"].requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    result = lab.switch(active="green", drain_timeout=10)
    thread.join(10)
    lab.backends["blue"].behaviour.delay_s = 0
    assert not result.failed, result
    assert result["drained"] is True
    assert result["timings"]["drain_ms"] > 0
    assert outcome["answer"] == (200, "blue")
    assert lab.live() == {"green": 20}


def test_drain_timeout_reports_open_sessions(lab: Lab):
    lab.backends["blue"].behaviour.delay_s = 3
    thread = threading.Thread(target=lambda: lab.haproxy.get("/slow"))
    thread.start()
    deadline = time.monotonic() + 5
    while lab.backends["blue"].requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    result = lab.switch(active="green", drain_timeout=0.3)
    assert not result.failed, result
    assert result["drained"] is False and result["sessions"] == {"blue-1": 1}
    assert any("current sessions" in str(warning) for warning in result.get("warnings", [])), result
    thread.join(10)
    lab.backends["blue"].behaviour.delay_s = 0


def test_keepalive_clients_see_no_errors_across_switches(lab: Lab):
    """Keepalive clients keep sending while the module switches back and forth (bounded: 6 switches)."""
    stop = threading.Event()
    tally = {"ok": 0, "errors": 0, "colours": set()}
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection(LOOPBACK, lab.haproxy.port, timeout=5)
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                status, colour = lab.haproxy.get("/", conn=conn)
            except (OSError, http.client.HTTPException):
                with lock:
                    tally["errors"] += 1
                conn.close()
                conn = http.client.HTTPConnection(LOOPBACK, lab.haproxy.port, timeout=5)
                continue
            with lock:
                if status == 200:
                    tally["ok"] += 1
                    tally["colours"].add(colour)
                else:
                    tally["errors"] += 1
        conn.close()

    clients = [threading.Thread(target=client) for _n in range(4)]
    for thread in clients:
        thread.start()
    try:
        for colour in ["green", "blue"] * 3:
            result = lab.switch(active=colour)
            assert not result.failed and result["changed"] and not result["reloaded"], result
    finally:
        stop.set()
        for thread in clients:
            thread.join(10)
    assert tally["errors"] == 0, tally
    assert tally["ok"] > 0 and tally["colours"] == {"blue", "green"}, tally


def test_new_pools_reload_and_keep_the_state(lab: Lab):
    extra = ColourBackend("green", "2.0.1").start()
    try:
        pools = {"blue": [lab.backends["blue"].address], "green": [lab.backends["green"].address, extra.address]}
        worker = lab.haproxy.worker_pid()
        result = lab.switch(pools=pools, active="green")
        assert not result.failed, result
        assert result["reloaded"] and result["changed"]
        assert result["reload_reasons"] == [f"server green-2 ({extra.address}) is unknown to the running HAProxy"]
        assert isinstance(result["timings"]["reload_ms"], int)
        assert lab.haproxy.worker_pid() != worker
        assert lab.live(20) == {"green": 20}
        assert extra.requests > 0 and lab.backends["blue"].requests == 0
        again = lab.switch(pools=pools, active="green")
        assert not again["changed"] and not again["reloaded"], again
    finally:
        extra.stop()


def test_bad_inputs_change_nothing(lab: Lab):
    before = digest(lab.path)
    cases = [
        ({"active": "purple"}, "active='purple' is not a colour in pools"),
        ({"weights": {"blue": 300}}, "weights.blue=300: use an integer from 0 to 256"),
        ({"weights": {"blue": 0, "green": 0}}, "weights are all 0"),
        ({"active": "green", "pools": {"blue": ["127.0.0.1:1"], "green": ["bad host:80"]}}, "not allowed"),
        ({"active": "green", "server_options": {"inter": "soon"}}, "server_options.inter='soon'"),
        ({"active": "green", "health_check_path": "/x y"}, "health_check_path"),
        ({"active": "green", "name": "shop-1"}, "name='shop-1' is not allowed"),
        ({"active": "green", "weights": {"green": 1}}, "mutually exclusive"),
    ]
    for overrides, message in cases:
        result = lab.switch(**overrides)
        assert result.failed, (overrides, result)
        assert message in result["msg"], (overrides, result["msg"])
    assert digest(lab.path) == before
    assert lab.live() == {"blue": 20}


def test_socket_missing_names_the_fix(lab: Lab, tmp_path):
    before = digest(lab.path)
    missing = tmp_path / "nowhere.sock"
    result = lab.switch(active="green", admin_socket=str(missing))
    assert result.failed
    assert f"admin socket {missing} does not exist" in result["msg"]
    assert "stats socket" in result["msg"] and "level admin" in result["msg"]
    assert digest(lab.path) == before
    info = lab.info(admin_socket=str(missing))
    backend = info["backends"][BACKEND]
    assert backend["active"] == "blue" and backend["runtime"] is None
    assert "does not exist" in backend["runtime_error"]


def test_rejected_configuration_is_restored(lab: Lab, tmp_path):
    # Another file that also defines backend shop: haproxy -c refuses the pair.
    clash = tmp_path / "clash.cfg"
    clash.write_text(f"backend {BACKEND}\n    server x 127.0.0.1:9\n")
    before = digest(lab.path)
    config = lab.haproxy.module_args()["haproxy_config"] + [str(clash)]
    result = lab.switch(active="green", haproxy_config=config)
    assert result.failed
    assert "haproxy -c failed" in result["msg"] and result["haproxy_errors"]
    assert digest(lab.path) == before
    assert lab.live() == {"blue": 20}


def test_failed_reload_restores_the_file(lab: Lab):
    before = digest(lab.path)
    pools = {"blue": [lab.backends["blue"].address], "green": [lab.backends["green"].address, "127.0.0.1:9"]}
    result = lab.switch(pools=pools, active="green", reload_command=["false"])
    assert result.failed
    assert "the reload command false failed" in result["msg"]
    assert digest(lab.path) == before
    assert lab.live() == {"blue": 20}


def test_file_not_loaded_by_haproxy_is_detected(lab: Lab, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = elsewhere / "bluegreen_other.cfg"
    result = lab.switch(name="other", path=str(path), active="green", reload_timeout=1,
                        state_file=str(elsewhere / "other.state"))
    assert result.failed
    assert "has no backend other" in result["msg"] and "-f" in result["msg"]
    assert not path.exists()
    assert lab.live() == {"blue": 20}


def test_absent_refused_while_the_frontend_uses_the_backend(lab: Lab):
    before = digest(lab.path)
    result = lab.switch(state="absent", pools=None)
    assert result.failed
    assert "haproxy -c failed" in result["msg"]
    assert digest(lab.path) == before
    assert lab.live() == {"blue": 20}


def test_info_shows_persisted_and_running_state(lab: Lab):
    assert lab.switch(active="green", health_check_path="/healthz")["changed"]
    info = lab.info()
    assert not info.failed and not info["changed"]
    backend = info["backends"][BACKEND]
    assert backend["active"] == "green" and backend["previous_active"] == "blue"
    assert backend["consistent"] and backend["in_sync"] and backend["drift"] == []
    assert backend["runtime_active"] == "green"
    assert backend["servers"]["blue-1"]["state"] == "drain"
    assert backend["runtime"]["green-1"]["state"] == "ready" and backend["runtime"]["green-1"]["sessions"] == 0
    listed = lab.info(name=None)
    assert list(listed["backends"]) == [BACKEND]
    files_only = lab.info(runtime=False)
    assert "runtime" not in files_only["backends"][BACKEND]


def test_refuses_a_colour_whose_servers_are_all_down(lab: Lab):
    fast_checks = {"health_check_path": "/healthz", "server_options": {"inter": "100ms", "fall": 1, "rise": 1}}
    with_checks = lab.switch(active="blue", **fast_checks)
    assert with_checks["reloaded"], with_checks  # checks are configuration: the module reloads to load them
    assert with_checks["reload_reasons"][0].startswith("health_check_path changed (None -> '/healthz')")
    lab.backends["green"].behaviour.status = 503
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = lab.info()["backends"][BACKEND]
        if info["runtime"]["green-1"]["health"] == "down":
            break
        time.sleep(0.1)
    assert info["runtime"]["green-1"]["health"] == "down", info
    before = digest(lab.path)
    result = lab.switch(active="green", **fast_checks)
    assert result.failed
    assert "every server of green down" in result["msg"]
    assert digest(lab.path) == before
    assert lab.live() == {"blue": 20}
    lab.backends["green"].behaviour.status = 200


def test_absent_removes_an_unused_backend_with_a_reload(lab: Lab):
    other = lab.haproxy.conf_d / "bluegreen_other.cfg"
    state = lab.haproxy.state_dir / "other.state"
    created = lab.switch(name="other", path=str(other), state_file=str(state), active="green")
    assert not created.failed, created
    assert created["reloaded"] and created["reload_reasons"] == ["the running HAProxy has no backend other"]
    assert "other" in lab.haproxy.api("show servers state other")
    removed = lab.switch(name="other", path=str(other), state_file=str(state), state="absent", pools=None)
    assert not removed.failed, removed
    assert removed["changed"] and removed["reloaded"] and removed["previous_active"] == "green"
    assert not other.exists() and not state.exists()
    assert "Can't find backend" in lab.haproxy.api("show servers state other")
    assert lab.live() == {"blue": 20}
    again = lab.switch(name="other", path=str(other), state_file=str(state), state="absent", pools=None)
    assert not again.failed and not again["changed"], again
