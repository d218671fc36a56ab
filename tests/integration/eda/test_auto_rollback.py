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

import os
import time

import pytest

from tests.lib.eda import EdaLab, rulebook_available

FULL = os.environ.get("SWITCHYARD_FAULT_FULL") == "1"
# Seconds after the switch at which the bad release starts failing; source timing.
TIMES = (
    {"bad_after": 20.0, "interval": 5, "window": 5, "bad_windows": 3, "min_requests": 20, "settle": 20.0}
    if FULL else
    {"bad_after": 6.0, "interval": 1, "window": 2, "bad_windows": 2, "min_requests": 5, "settle": 5.0}
)
ROLLBACK_LINE = r"bluegreen_watch ROLLBACK"
RECAP_LINE = r"PLAY RECAP"


@pytest.fixture(autouse=True)
def _rulebook_installed():
    # make test installs ansible-rulebook and a JDK (requirements-test.txt, scripts/system-deps.sh):
    # a missing one is a broken set-up to report, not a reason to skip the rollback proof.
    reason = rulebook_available()
    if reason is not None:
        pytest.fail(f"{reason}: run `make test` (or scripts/system-deps.sh and make venv) to install it")


@pytest.fixture
def lab(tmp_path, request):
    box = EdaLab(tmp_path, TIMES, router=getattr(request, "param", "nginx"))
    yield box
    box.close()


def start_and_switch(lab: EdaLab) -> float:
    switched = lab.start_and_switch(rate=40)
    assert lab.router_colours() == {"green": 10}
    return switched


@pytest.mark.parametrize("lab", ["nginx", "haproxy"], indirect=True)
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
    print(f"\nEDA rollback ({lab.router}, {'full' if FULL else 'reduced'}): first bad request -> traffic back on blue "
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
