# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""single_host: both colours side by side on one host behind its own nginx.

Phase "deployed" (after converge): green 2.0.0 live, blue 1.0.0 idle. Phase
"rolled_back" (after side_effect): blue live again, green idle.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from molecule_checks import UPSTREAM_FILE, fetch, phase, upstream_state

HOST = testinfra.get_host("podman://sy-single-host")
VERSIONS = {"blue": "1.0.0", "green": "2.0.0"}
PORTS = {"blue": 8081, "green": 8082}
LIVE = {"deployed": "green", "rolled_back": "blue"}[phase("deployed")]
IDLE = "blue" if LIVE == "green" else "green"


def test_live_listener_serves_the_live_colour():
    answers = fetch(HOST, 80)
    assert {a["status"] for a in answers} == {200}
    assert {a["x-app-color"] for a in answers} == {LIVE}
    assert {a["x-app-version"] for a in answers} == {VERSIONS[LIVE]}
    assert {a["x-bluegreen-color"] for a in answers} == {LIVE}


def test_preview_listener_serves_the_idle_colour():
    answers = fetch(HOST, 8080, 5)
    assert {a["x-app-color"] for a in answers} == {IDLE}
    assert {a["x-app-version"] for a in answers} == {VERSIONS[IDLE]}


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_both_colours_run_side_by_side(colour):
    service = HOST.service(f"demo@{colour}")
    assert service.is_running
    assert service.is_enabled
    assert HOST.socket(f"tcp://0.0.0.0:{PORTS[colour]}").is_listening
    answers = fetch(HOST, PORTS[colour], 2, "/healthz")
    assert {a["x-app-color"] for a in answers} == {colour}
    record = json.loads(HOST.file(f"/var/lib/demo/bluegreen/{colour}.json").content_string)
    assert (record["color"], record["version"], record["port"]) == (colour, VERSIONS[colour], PORTS[colour])


def test_one_release_directory_per_version_shared_by_the_host():
    assert HOST.file("/opt/demo/blue/current").linked_to == "/opt/demo/releases/1.0.0"
    assert HOST.file("/opt/demo/green/current").linked_to == "/opt/demo/releases/2.0.0"


def test_upstream_points_at_this_host_on_the_live_colours_port():
    _unused, meta = upstream_state(HOST)
    assert meta["active"] == LIVE
    assert meta["pools"] == {"blue": ["10.88.235.10:8081"], "green": ["10.88.235.10:8082"]}
    content = HOST.file(UPSTREAM_FILE).content_string
    live_block = re.search(r"upstream demo \{(.*?)\}", content, re.DOTALL).group(1)
    assert f"10.88.235.10:{PORTS[LIVE]}" in live_block
    assert f"10.88.235.10:{PORTS[IDLE]}" not in live_block
    # What nginx runs is what the file says.
    assert f"# configuration file {UPSTREAM_FILE}:\n{content}" in HOST.check_output("nginx -T 2>/dev/null") + "\n"
