# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""_haproxy: validation, rendering, runtime parsing, drift, command order, socket errors (no HAProxy needed)."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import plan as hplan
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import render as hrender
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import runtime as hruntime
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import spec as hspec

POOLS = {"blue": ["10.0.0.1:80"], "green": ["10.0.1.1:80"]}

STATE_HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
    "srv_check_addr srv_agent_addr srv_agent_port\n"
)


def state_row(name, addr, port, *, op=2, admin=0, uweight=1, iweight=1):
    return f"3 shop 1 {name} {addr} {op} {admin} {uweight} {iweight} 5 1 0 2 0 0 0 0 - {port} - 0 0 - - 0\n"


def spec(**overrides):
    params = {"name": "shop", "pools": POOLS, "active": "blue", "state_file": "/var/lib/haproxy/s.state"}
    params.update(overrides)
    return hspec.build_spec(params)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": "shop-1"}, "name='shop-1' is not allowed"),
    ({"pools": {"blue": ["10.0.0.1:80"]}}, "at least two colours"),
    ({"pools": {"blue": ["10.0.0.1:80"], "green": ["10.0.0.1:80"]}}, "each server belongs to one colour"),
    ({"pools": {"blue": ["a b:80"], "green": ["x:1"]}}, "not allowed in an address"),
    ({"active": "purple"}, "active='purple' is not a colour in pools"),
    ({"active": None}, "give either active"),
    ({"weights": {"blue": 1}}, "mutually exclusive"),
    ({"active": None, "weights": {"blue": 257}}, "from 0 to 256"),
    ({"active": None, "weights": {"blue": -1}}, "from 0 to 256"),
    ({"active": None, "weights": {"red": 1}}, "weights.red"),
    ({"active": None, "weights": {"blue": 0}}, "all 0"),
    ({"old_state": "sleep"}, "old_state='sleep'"),
    ({"balance": "hash"}, "balance='hash'"),
    ({"health_check_path": "healthz"}, "health_check_path='healthz'"),
    ({"health_check_path": "/a b"}, "health_check_path"),
    ({"server_options": {"weight": 3}}, "server_options.weight is not allowed"),
    ({"server_options": {"disabled": True}}, "server_options.disabled is not allowed"),
    ({"server_options": {"cookie": "x"}}, "not a known server parameter"),
    ({"server_options": {"inter": "2 s"}}, "server_options.inter='2 s'"),
    ({"server_options": {"rise": 0}}, "server_options.rise=0"),
    ({"server_options": {"check": "yes"}}, "server_options.check='yes'"),
])
def test_bad_input_names_the_option(overrides, message):
    with pytest.raises(hspec.HaproxyError) as error:
        spec(**overrides)
    assert message in str(error.value)


def test_health_check_turns_checks_on_and_options_normalise():
    result = spec(health_check_path="/healthz", server_options={"inter": 2, "rise": "2", "maxconn": 0})
    assert result["server_options"] == {"inter": "2", "rise": 2, "maxconn": 0, "check": True}


# --- server states and rendering ---------------------------------------------------------------


def test_active_renders_idle_colour_as_weight_0_or_disabled():
    body = hrender.render_body(spec(active="green"))
    assert "    server blue-1 10.0.0.1:80 weight 0\n" in body
    assert "    server green-1 10.0.1.1:80 weight 1\n" in body
    assert "load-server-state-from-file local\n    server-state-file-name /var/lib/haproxy/s.state\n" in body
    body = hrender.render_body(spec(active="green", old_state="maint", state_file=None))
    assert "    server blue-1 10.0.0.1:80 weight 0 disabled\n" in body
    assert "server-state-file" not in body


def test_weights_are_shares_per_colour_whatever_the_pool_sizes():
    pools = {"blue": ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"], "green": ["10.0.1.1:80"]}
    states = hrender.server_states(spec(pools=pools, active=None, weights={"blue": 90, "green": 10}))
    blue_total = sum(entry["weight"] for name, entry in states.items() if entry["colour"] == "blue")
    green_total = sum(entry["weight"] for name, entry in states.items() if entry["colour"] == "green")
    assert blue_total / (blue_total + green_total) == pytest.approx(0.9, abs=0.01)
    assert all(1 <= entry["weight"] <= 256 for entry in states.values())
    assert list(states) == ["blue-1", "blue-2", "blue-3", "green-1"]


def test_weights_are_scaled_into_haproxys_range():
    pools = {"blue": [f"10.0.0.{n}:80" for n in range(1, 8)], "green": ["10.0.1.1:80"]}
    states = hrender.server_states(spec(pools=pools, active=None, weights={"blue": 1, "green": 256}))
    assert max(entry["weight"] for entry in states.values()) == 256
    assert min(entry["weight"] for entry in states.values()) >= 1


def test_unix_sockets_and_ipv6_use_haproxys_spelling():
    body = hrender.render_body(spec(pools={"blue": ["unix:/run/blue.sock"], "green": ["[fd00::1]:8080"]}))
    assert "server blue-1 unix@/run/blue.sock weight 1" in body
    assert "server green-1 [fd00::1]:8080 weight 0" in body


def test_server_options_are_rendered_in_a_fixed_order():
    body = hrender.render_body(spec(health_check_path="/healthz", server_options={"fall": 3, "inter": "2s"}))
    assert "option httpchk\n    http-check send meth GET uri /healthz\n" in body
    assert "server blue-1 10.0.0.1:80 weight 1 check inter 2s fall 3\n" in body


def test_metadata_round_trip_and_same_state():
    desired = spec(active="green")
    metadata = hrender.FORMAT.next_metadata(desired, {"active": "blue", "weights": None, "switched_at": "t0"}, "t1")
    text = hrender.FORMAT.render(desired, metadata)
    assert hrender.FORMAT.is_managed(text) and hrender.FORMAT.same_state(desired, text)
    assert (metadata["previous_active"], metadata["switched_at"]) == ("blue", "t1")
    again = hrender.FORMAT.next_metadata(desired, metadata, "t2")
    assert (again["previous_active"], again["switched_at"], again["updated_at"]) == ("blue", "t1", "t2")
    assert not hrender.FORMAT.same_state(spec(active="blue"), text)
    assert not hrender.FORMAT.same_state(desired, text.replace("weight 0", "weight 5"))
    info = hrender.describe(text, "/x.cfg")
    assert info["active"] == "green" and info["consistent"] and info["servers"]["blue-1"]["state"] == "drain"
    assert not hrender.describe(text.replace("weight 0", "weight 5"), "/x.cfg")["consistent"]
    assert hrender.describe("backend shop\n", "/x.cfg") is None


def test_described_servers_carry_color_beside_the_deprecated_colour():
    desired = spec(active="green")
    text = hrender.FORMAT.render(desired, hrender.FORMAT.next_metadata(desired, None, "t1"))
    servers = hrender.describe(text, "/x.cfg")["servers"]
    assert {name: (entry["color"], entry["colour"]) for name, entry in servers.items()} == {
        "blue-1": ("blue", "blue"), "green-1": ("green", "green")}
    # The switch's own view keeps one key: the result key is added for callers only.
    assert "color" not in hrender.server_states(desired)["blue-1"]


# --- runtime parsing, drift, commands -------------------------------------------------------------


def test_parse_servers_state_and_effective_states():
    text = (STATE_HEADER + state_row("blue-1", "10.0.0.1", 80, admin=8)
            + state_row("green-1", "10.0.1.1", 80, admin=4) + state_row("x-1", "10.0.2.1", 80, admin=1, op=0)
            + state_row("y-1", "10.0.3.1", 80, uweight=0) + "\n")
    view = hruntime.runtime_view(hruntime.parse_servers_state(text))
    assert view["blue-1"]["state"] == "drain"
    # CMAINT alone (configured disabled, then set ready at runtime) serves traffic.
    assert view["green-1"]["state"] == "ready" and view["green-1"]["health"] == "up"
    assert view["x-1"]["state"] == "maint" and view["x-1"]["health"] == "down"
    assert view["y-1"]["state"] == "drain"  # weight 0 from the file is drain too
    assert hruntime.runtime_colours(view, {}) == ["green"]


def test_parse_stat_and_info():
    stat = "# pxname,svname,qcur,qmax,scur\nshop,blue-1,0,0,3\nshop,green-1,0,0,0\nshop,BACKEND,0,0,3\n"
    assert hruntime.current_sessions(hruntime.parse_stat(stat), "shop", ["blue-1"]) == {"blue-1": 3}
    assert hruntime.parse_info("Name: HAProxy\nPid: 42\n")["Pid"] == "42"


def test_plan_brings_the_target_up_before_the_old_colour_leaves():
    runtime = {"blue-1": {"state": "ready", "weight": 1, "admin_state": 0},
               "green-1": {"state": "drain", "weight": 0, "admin_state": 0}}
    commands = hplan.plan_commands("shop", runtime, hrender.server_states(spec(active="green")))
    assert commands == ["set weight shop/green-1 1", "set server shop/blue-1 state drain"]
    runtime["green-1"] = {"state": "maint", "weight": 1, "admin_state": 5}
    commands = hplan.plan_commands("shop", runtime, hrender.server_states(spec(active="green", old_state="maint")))
    assert commands == ["set server shop/green-1 state ready", "set server shop/blue-1 state maint"]


def test_plan_raises_weights_before_lowering_them():
    runtime = {"blue-1": {"state": "ready", "weight": 90, "admin_state": 0},
               "green-1": {"state": "ready", "weight": 10, "admin_state": 0}}
    desired = hrender.server_states(spec(active=None, weights={"blue": 10, "green": 90}))
    commands = hplan.plan_commands("shop", runtime, desired)
    assert commands == ["set weight shop/green-1 90", "set weight shop/blue-1 10"]
    converged = {"blue-1": dict(runtime["blue-1"], weight=10), "green-1": dict(runtime["green-1"], weight=90)}
    assert hplan.plan_commands("shop", converged, desired) == []


def test_drift_and_pool_mismatch_sentences():
    persisted = hrender.server_states(spec(active="green"))
    runtime = {"blue-1": {"state": "ready", "weight": 1}, "green-1": {"state": "ready", "weight": 1},
               "old-1": {"state": "ready", "weight": 1}}
    assert hplan.drift_between(runtime, persisted) == [
        "blue-1: running ready weight 1, file says drain", "old-1: running, not in the file"]
    text = STATE_HEADER + state_row("blue-1", "10.0.0.9", 80) + state_row("extra-1", "1.1.1.1", 1)
    rows = hruntime.parse_servers_state(text)
    problems = hplan.pools_mismatch(rows, persisted)
    assert "server blue-1 runs on 10.0.0.9:80, pools say 10.0.0.1:80" in problems
    assert "server green-1 (10.0.1.1:80) is unknown to the running HAProxy" in problems
    assert "the running HAProxy has server extra-1 that pools do not list" in problems


def test_state_file_text_keeps_only_a_valid_dump():
    assert hruntime.state_file_text(STATE_HEADER + "\n").startswith("1\n# be_id")
    assert hruntime.state_file_text("Can't find backend.\n") == "1\n"


# --- runtime API client ------------------------------------------------------------------------------


def test_socket_missing_names_the_path_and_the_stats_socket_line(tmp_path):
    api = hruntime.RuntimeApi(str(tmp_path / "admin.sock"))
    with pytest.raises(hruntime.RuntimeApiError) as error:
        api.execute("show info")
    message = str(error.value)
    assert f"admin socket {tmp_path / 'admin.sock'} does not exist" in message
    assert "level admin" in message and "admin_socket" in message


def test_stale_socket_and_not_a_socket(tmp_path):
    stale = tmp_path / "stale.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(stale))
    server.close()  # the file stays, nobody listens
    with pytest.raises(hruntime.RuntimeApiError, match="nothing answers"):
        hruntime.RuntimeApi(str(stale)).execute("show info")
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(hruntime.RuntimeApiError, match=r"HAProxy is not running|not a socket|nothing answers"):
        hruntime.RuntimeApi(str(plain)).execute("show info")


def test_permission_denied_names_owner_and_fix(tmp_path, monkeypatch):
    path = tmp_path / "admin.sock"
    path.write_text("")

    def refuse(self, address):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(hruntime.RuntimeApiError) as error:
        hruntime.RuntimeApi(str(path)).execute("show info")
    message = str(error.value)
    assert "permission denied" in message and f"gid {os.stat(path).st_gid}" in message and "become" in message


class FakeHaproxySocket:
    """A UNIX socket server that answers like HAProxy: one command per connection."""

    def __init__(self, path, answers):
        self.path = str(path)
        self.answers = answers
        self.received = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(self.path)
        self.server.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.server.accept()
            except OSError:
                return
            with conn:
                command = conn.recv(4096).decode().strip()
                self.received.append(command)
                conn.sendall(self.answers.get(command.split(" ", 2)[0] + " " + command.split(" ")[1], "\n").encode())

    def close(self):
        self.server.close()


def test_runtime_api_round_trip(tmp_path):
    fake = FakeHaproxySocket(tmp_path / "admin.sock", {
        "show servers": STATE_HEADER + state_row("blue-1", "10.0.0.1", 80) + "\n",
        "set server": "No such server.\n\n",
        "set weight": "\n",
    })
    try:
        api = hruntime.RuntimeApi(fake.path)
        rows = api.servers_state("shop")
        assert rows[0]["srv_name"] == "blue-1"
        api.command("set weight shop/blue-1 1")
        with pytest.raises(hruntime.RuntimeApiError, match="No such server"):
            api.command("set server shop/nope state ready")
        assert fake.received == ["show servers state shop", "set weight shop/blue-1 1",
                                 "set server shop/nope state ready"]
    finally:
        fake.close()


def test_settings_that_need_a_reload():
    old = {"balance": "roundrobin", "health_check_path": None, "server_options": {}, "state_file": None}
    assert hplan.settings_changed(old, spec(state_file=None)) == []
    assert hplan.settings_changed(old, spec(state_file=None, balance="leastconn")) == [
        "balance changed ('roundrobin' -> 'leastconn')"]
    assert hplan.settings_changed(None, spec()) == []


def test_a_colour_whose_servers_are_all_down_is_reported():
    desired = hrender.server_states(spec(active="green"))
    runtime = {"blue-1": {"state": "ready", "weight": 1, "health": "up"},
               "green-1": {"state": "drain", "weight": 0, "health": "down"}}
    assert hplan.colours_without_healthy_server(runtime, desired) == ["green"]
    runtime["green-1"]["health"] = "up"
    assert hplan.colours_without_healthy_server(runtime, desired) == []
    runtime["green-1"] = {"state": "maint", "weight": 1, "health": "down"}  # not checked in maint: unknown
    assert hplan.colours_without_healthy_server(runtime, desired) == []
