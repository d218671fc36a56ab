# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The auto_rollback rulebook for real: ansible-rulebook, the bluegreen_watch source, a real nginx and backends.

A loopback nginx proxies the app `shop` to real blue and green backends and writes the
switchyard_bluegreen access log; a bounded load client sends requests through it the whole
time. ansible-rulebook runs the collection's rulebook (switchyard.bluegreen.auto_rollback)
with the collection's source; nginx_upstream switches blue -> green. In the bad case green
starts answering 500 some seconds after the switch: the rulebook must run rollback.yml once,
traffic must come back to blue (read through the router), and nothing more may happen. In the
good case nothing may happen over the same period.

`make test` runs a reduced variant (1 s windows, bad 6 s after the switch). The full variant
(SWITCHYARD_FAULT_FULL=1, as `make faults` sets it) turns bad 20 s after the switch with 5 s
windows. The time from the first bad request to traffic back on blue is reported, never asserted.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ansible_collections.switchyard.bluegreen.extensions.eda.plugins.event_source import bluegreen_watch
from tests.conftest import COLLECTIONS, REPO, execute_module
from tests.lib.backends import ColourBackend
from tests.lib.eda import LoadClient, Rulebook, rulebook_available, watched_site
from tests.lib.nginx import LoopbackNginx
from tests.lib.ports import LOOPBACK, free_port

FULL = os.environ.get("SWITCHYARD_FAULT_FULL") == "1"
# Seconds after the switch at which the bad release starts failing; source timing.
TIMES = (
    {"bad_after": 20.0, "interval": 5, "window": 5, "bad_windows": 3, "min_requests": 20, "settle": 20.0}
    if FULL else
    {"bad_after": 6.0, "interval": 1, "window": 2, "bad_windows": 2, "min_requests": 5, "settle": 5.0}
)
APP = "shop"
ROLLBACK_LINE = r"bluegreen_watch ROLLBACK"
RECAP_LINE = r"PLAY RECAP"

pytestmark = pytest.mark.skipif(rulebook_available() is not None, reason=str(rulebook_available()))


class EdaLab:
    """Backends, nginx with the managed upstream and the watched site, inventory and rulebook vars."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.nginx = LoopbackNginx(tmp_path / "nginx")
        self.managed = self.nginx.conf_d / f"bluegreen_{APP}.conf"
        self.access_log = tmp_path / "bluegreen.log"
        self.pools = {"blue": [self.blue.address], "green": [self.green.address]}
        result = self.switch("blue", reload=False)
        assert not result.failed, result
        self.port = free_port()
        (self.nginx.sites / "watched.conf").write_text(watched_site(
            f"{LOOPBACK}:{self.port}", APP, self.access_log,
            bluegreen_watch.NGINX_LOG_FORMAT, bluegreen_watch.NGINX_LOG_FORMAT_NAME))
        self.nginx.ports["watched"] = self.port
        self.nginx.start()
        self.inventory = tmp_path / "inventory.json"
        self.inventory.write_text(json.dumps({"all": {
            "vars": {"bluegreen_app_name": APP, "bluegreen_pools": self.pools},
            "children": {"bluegreen_lb": {"hosts": {"lb0": {
                "ansible_connection": "local",
                "switch_nginx_conf": str(self.nginx.main_conf),
                "switch_nginx_config_dir": str(self.nginx.conf_d),
                "switch_nginx_binary": self.nginx.module_args()["nginx_binary"],
                "switch_verify_urls": [f"http://{LOOPBACK}:{self.port}/"],
            }}}},
        }}))
        self.vars_file = tmp_path / "vars.json"
        self.vars_file.write_text(json.dumps({
            "bluegreen_watch_router": "nginx",
            "bluegreen_watch_managed_file": str(self.managed),
            "bluegreen_watch_access_log": str(self.access_log),
            "bluegreen_watch_interval": TIMES["interval"],
            "bluegreen_watch_window": TIMES["window"],
            "bluegreen_watch_period": 600,
            "bluegreen_max_error_rate": 0.05,
            "bluegreen_max_p95_ms": 1000,
            "bluegreen_min_requests": TIMES["min_requests"],
            "bluegreen_bad_windows": TIMES["bad_windows"],
        }))
        self.load: LoadClient | None = None
        self.rulebook = Rulebook("switchyard.bluegreen.auto_rollback", self.inventory, self.vars_file,
                                 COLLECTIONS, REPO)

    def switch(self, colour: str, reload: bool = True):
        return execute_module("nginx_upstream", {
            "name": APP, "pools": self.pools, "active": colour, "path": str(self.managed), "reload": reload,
            **self.nginx.module_args(),
        })

    def live_in_metadata(self) -> str | None:
        return (bluegreen_watch.read_metadata(str(self.managed), "nginx") or {}).get("active")

    def router_colours(self, count: int = 10) -> dict[str, int]:
        return self.nginx.colour_counts("watched", count)

    def close(self) -> None:
        if self.load is not None:
            self.load.stop()
        self.rulebook.stop()
        # Kept for the report and for diagnosis: the rulebook's whole output of the last run.
        (self.tmp / "rulebook.log").write_text(self.rulebook.output)
        self.nginx.stop()
        self.blue.stop()
        self.green.stop()


@pytest.fixture
def lab(tmp_path):
    box = EdaLab(tmp_path)
    yield box
    box.close()


def start_and_switch(lab: EdaLab) -> float:
    """Load on, rulebook watching blue, then the switch to green; returns when the switch was done."""
    lab.load = LoadClient(lab.port, rate=40).start()
    lab.rulebook.start()
    assert lab.rulebook.wait_for(r"bluegreen_watch decision: blue live", timeout=90), lab.rulebook.output[-4000:]
    result = lab.switch("green")
    assert not result.failed, result
    lab.nginx.wait_until_settled()
    assert lab.router_colours() == {"green": 10}
    return time.time()


def test_bad_release_is_rolled_back_once(lab, record_property):
    switched = start_and_switch(lab)
    time.sleep(max(0.0, switched + TIMES["bad_after"] - time.time()))
    lab.green.behaviour.status = 500
    went_bad = time.time()

    rollback = lab.rulebook.wait_for(ROLLBACK_LINE, timeout=120)
    assert rollback, lab.rulebook.output[-6000:]
    recap = lab.rulebook.wait_for(RECAP_LINE, timeout=120)
    assert recap, lab.rulebook.output[-6000:]
    deadline = time.monotonic() + 60
    while lab.load.first_on("blue", went_bad) is None and time.monotonic() < deadline:
        time.sleep(0.2)

    # Traffic is back on blue, read from the router, and the managed file says so.
    assert lab.router_colours() == {"blue": 10}
    assert lab.live_in_metadata() == "blue"
    # The rollback's own switch is recognised and not watched: no flapping.
    assert lab.rulebook.wait_for(r"bluegreen_watch switch: green -> blue .*\(rollback\)", timeout=30), \
        lab.rulebook.output[-6000:]

    # Several more windows: no second rollback, no second playbook run, still blue.
    time.sleep(4 * TIMES["interval"] + 2)
    assert len(lab.rulebook.matching(ROLLBACK_LINE)) == 1, lab.rulebook.output[-6000:]
    assert len(lab.rulebook.matching(RECAP_LINE)) == 1, lab.rulebook.output[-6000:]
    assert lab.live_in_metadata() == "blue"
    assert lab.router_colours() == {"blue": 10}
    # The decision that fired carried its figures.
    assert "error rate" in rollback[1] and "requests" in rollback[1], rollback[1]

    first_bad = min(sent for sent, _status, _colour in lab.load.bad(went_bad))
    back = lab.load.first_on("blue", went_bad)
    seconds = back - first_bad
    errors = len(lab.load.bad(went_bad))
    record_property("first_bad_to_blue_s", round(seconds, 2))
    record_property("failed_requests", errors)
    print(f"\nEDA rollback ({'full' if FULL else 'reduced'}): first bad request -> traffic back on blue "
          f"{seconds:.2f} s; {errors} failed requests at 40 rps; rollback decision "
          f"{rollback[0] - first_bad:.2f} s after the first bad request")


def test_good_release_is_left_alone(lab):
    start_and_switch(lab)
    # The bad case's whole period: turning bad, detection, rollback and the windows after it.
    time.sleep(TIMES["bad_after"] + TIMES["settle"] + 4 * TIMES["interval"])
    assert lab.rulebook.matching(r"bluegreen_watch decision: green live .*healthy"), lab.rulebook.output[-6000:]
    assert not lab.rulebook.matching(ROLLBACK_LINE), lab.rulebook.output[-6000:]
    assert not lab.rulebook.matching(RECAP_LINE), lab.rulebook.output[-6000:]
    assert lab.live_in_metadata() == "green"
    assert lab.router_colours() == {"green": 10}
    assert not lab.load.bad(0.0)
