# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra checks of the haproxy scenario, run from inside the containers.

After converge: HAProxy serves 2.0.0 from green. After the side effect (rollback) the marker
file $MOLECULE_EPHEMERAL_DIRECTORY/expected_live says blue. The managed backend file and the
running HAProxy (asked over its admin socket) must both name the live colour.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
pytest.register_assert_rewrite("molecule_checks")
from molecule_checks import (  # noqa: E402 - importable once molecule/shared is on sys.path
    ask_admin_socket,
    assert_colour_service_up,
    assert_served_by,
    colour_record,
    expected_live,
    fetch,
    idle_of,
    managed_metadata,
)

LB = testinfra.get_host("podman://sy-haproxy-lb")
APP_HOSTS = {
    "blue": testinfra.get_host("podman://sy-haproxy-blue"),
    "green": testinfra.get_host("podman://sy-haproxy-green"),
}
VERSIONS = {"blue": "1.0.0", "green": "2.0.0"}
BACKEND_FILE = "/etc/haproxy/conf.d/bluegreen_demo.cfg"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
# srv_admin_state bits for maintenance and drain (HAProxy include/haproxy/server-t.h).
MAINT_MASK = 0x01 | 0x02 | 0x20 | 0x40
DRAIN_MASK = 0x08 | 0x10


def servers_state() -> dict[str, dict]:
    """`show servers state demo` from the running HAProxy: server name -> row."""
    out = ask_admin_socket(LB, ADMIN_SOCKET, "show servers state demo")
    lines = [line for line in out.splitlines() if line.strip()]
    header = next(line for line in lines if line.startswith("# be_id"))[2:].split()
    # The first line is the format version ("1"); server rows have one field per header column.
    rows = [dict(zip(header, line.split())) for line in lines
            if not line.startswith("#") and len(line.split()) == len(header)]
    return {row["srv_name"]: row for row in rows}


def test_haproxy_running_and_enabled():
    service = LB.service("haproxy")
    assert service.is_running
    assert service.is_enabled


def test_lb_serves_the_live_colour_and_its_version():
    live = expected_live()
    # The router's own colour header agrees with the application's.
    assert_served_by(fetch(LB, 80), live, VERSIONS[live])


def test_managed_backend_file_names_the_live_colour():
    live = expected_live()
    content = LB.file(BACKEND_FILE).content_string
    meta = managed_metadata(content, "haproxy_backend")
    assert meta is not None
    assert meta["active"] == live
    # The directory holding the file passes HAProxy's own check together with the main file.
    LB.run_expect([0], "haproxy -c -q -f /etc/haproxy/haproxy.cfg -f /etc/haproxy/conf.d")


def test_running_state_agrees_with_the_file():
    live = expected_live()
    rows = servers_state()
    by_colour: dict[str, list[dict]] = {"blue": [], "green": []}
    for name, row in rows.items():
        by_colour[name.split("-", 1)[0]].append(row)
    assert by_colour["blue"] and by_colour["green"]
    for row in by_colour[live]:
        admin = int(row["srv_admin_state"])
        assert admin & (MAINT_MASK | DRAIN_MASK) == 0, row
        assert int(row["srv_uweight"]) > 0, row
    for row in by_colour[idle_of(live)]:
        admin = int(row["srv_admin_state"])
        assert admin & (MAINT_MASK | DRAIN_MASK) or int(row["srv_uweight"]) == 0, row


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_colour_service_running_and_enabled(colour):
    assert_colour_service_up(APP_HOSTS[colour], colour)


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_colour_record_names_its_release(colour):
    record = colour_record(APP_HOSTS[colour], colour)
    assert record["color"] == colour
    assert record["version"] == VERSIONS[colour]
