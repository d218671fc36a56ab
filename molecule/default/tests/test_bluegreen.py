# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra checks of the default scenario, run from inside the containers.

After converge: the load balancer serves 2.0.0 from green and the preview listener
1.0.0 from blue. After the side effect (rollback) the marker file
$MOLECULE_EPHEMERAL_DIRECTORY/expected_live says blue, and the roles swap.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
pytest.register_assert_rewrite("molecule_checks")
from molecule_checks import (  # noqa: E402 - importable once molecule/shared is on sys.path
    UPSTREAM_FILE,
    assert_colour_service_up,
    assert_served_by,
    colour_record,
    expected_live,
    fetch,
    idle_of,
    managed_metadata,
)

LB = testinfra.get_host("podman://switchyard-mol-lb")
APP_HOSTS = {
    "blue": testinfra.get_host("podman://switchyard-mol-blue"),
    "green": testinfra.get_host("podman://switchyard-mol-green"),
}
VERSIONS = {"blue": "1.0.0", "green": "2.0.0"}


def test_lb_serves_the_live_colour_and_its_version():
    live = expected_live()
    # The router's own colour header agrees with the application's.
    assert_served_by(fetch(LB, 80), live, VERSIONS[live])


def test_preview_listener_serves_the_idle_colour():
    idle = idle_of(expected_live())
    answers = fetch(LB, 8080, 5)
    assert {a["x-app-color"] for a in answers} == {idle}
    assert {a["x-app-version"] for a in answers} == {VERSIONS[idle]}
    assert {a["x-bluegreen-preview"] for a in answers} == {"true"}


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_colour_service_running_and_enabled(colour):
    assert_colour_service_up(APP_HOSTS[colour], colour)


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_colour_record_names_its_release(colour):
    record = colour_record(APP_HOSTS[colour], colour)
    assert record["color"] == colour
    assert record["version"] == VERSIONS[colour]
    current = APP_HOSTS[colour].file(f"/opt/demo/{colour}/current")
    assert current.is_symlink
    assert current.linked_to == f"/opt/demo/releases/{VERSIONS[colour]}"


def test_managed_upstream_file_is_what_nginx_loaded():
    live = expected_live()
    content = LB.file(UPSTREAM_FILE).content_string
    # The metadata line written by nginx_upstream names the live colour.
    meta = managed_metadata(content)
    assert meta is not None
    assert meta["active"] == live
    # nginx -T prints the configuration as nginx reads it: the managed file is included, unchanged.
    dump = LB.check_output("nginx -T 2>/dev/null")
    assert f"# configuration file {UPSTREAM_FILE}:\n{content}" in dump + "\n"
    # Every running worker started after the file was last written, so they all run it.
    mtime = int(LB.check_output(f"stat -c %Y {UPSTREAM_FILE}"))
    now = int(LB.check_output("date +%s"))
    ages = [int(x) for x in LB.check_output("ps -C nginx -o etimes=,args= | awk '/worker process/ {print $1}'").split()]
    assert ages, "no nginx worker process"
    assert all(now - age >= mtime - 1 for age in ages)
    # The live upstream points at the live colour's server only.
    block = re.search(r"upstream demo \{(.*?)\}", content, re.DOTALL).group(1)
    port = {"blue": 8081, "green": 8082}[live]
    assert f"10.88.252.{11 if live == 'blue' else 12}:{port}" in block
    assert f":{ {'blue': 8081, 'green': 8082}[idle_of(live)] }" not in block
