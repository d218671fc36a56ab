# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""haproxy_backend / haproxy_backend_info as module processes: argument checks and apply=false (no HAProxy running)."""

from __future__ import annotations

import shutil

import pytest

POOLS = {"blue": ["127.0.0.1:8081"], "green": ["127.0.0.1:8082"]}
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

MAIN_CFG = """\
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s

frontend public
    bind 127.0.0.1:18080  # haproxy -c only: never bound
    default_backend shop
"""


@pytest.fixture
def layout(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "state").mkdir()
    main = tmp_path / "main.cfg"
    main.write_text(MAIN_CFG)
    return {"name": "shop", "pools": POOLS, "path": str(tmp_path / "conf.d" / "bluegreen_shop.cfg"),
            "state_file": str(tmp_path / "state" / "shop.state"), "haproxy_config": [str(main)],
            "haproxy_binary": HAPROXY, "admin_socket": str(tmp_path / "admin.sock")}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"reload_command": []}, "reload_command must not be empty"),
    ({"drain_timeout": -1}, "drain_timeout=-1.0: use a number of seconds >= 0"),
    ({"socket_timeout": 0}, "socket_timeout=0.0"),
    ({"state_file": "relative.state"}, "state_file='relative.state': use an absolute path"),
    ({"active": None}, "any of the following are missing: active, weights"),
    ({"pools": None}, "pools"),
    ({"old_state": "off"}, "old_state"),
])
def test_argument_errors(run_module, layout, overrides, message):
    args = {**layout, "active": "blue", **overrides}
    result = run_module("haproxy_backend", {k: v for k, v in args.items() if v is not None})
    assert result.failed and message in result["msg"], result


def test_apply_false_writes_checks_and_is_idempotent(run_module, layout, tmp_path):
    args = dict(layout, active="green", apply=False)
    predicted = run_module("haproxy_backend", args, check_mode=True, diff=True)
    assert predicted["changed"] and not (tmp_path / "conf.d" / "bluegreen_shop.cfg").exists()
    assert "server green-1 127.0.0.1:8082 weight 1" in predicted["diff"][0]["after"]
    written = run_module("haproxy_backend", args)
    assert written["changed"] and written["runtime"] is None and written["commands"] == []
    assert isinstance(written["timings"]["validate_ms"], int)
    again = run_module("haproxy_backend", args)
    assert not again["changed"], again
    info = run_module("haproxy_backend_info", {"path": layout["path"], "admin_socket": layout["admin_socket"]})
    backend = info["backends"]["shop"]
    assert backend["active"] == "green" and backend["consistent"] and backend["runtime"] is None
    assert "does not exist" in backend["runtime_error"]
