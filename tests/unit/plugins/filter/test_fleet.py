# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""switch_decision (the detect step's one decision) and commit_instant (the two-phase commit time)."""

from __future__ import annotations

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import colors, fleet


def test_filter_module_exposes_every_filter():
    assert set(fleet.FilterModule().filters()) == {"switch_decision", "commit_instant", "fleet_failures"}


@pytest.mark.parametrize("lives", [["blue"], ["blue", "blue"], ["blue", "green"], [None], ["green", None], []])
@pytest.mark.parametrize("requested", ["", "blue", "green"])
@pytest.mark.parametrize("force", [False, True])
def test_decision_agrees_with_the_single_filters(lives, requested, force):
    states = [{"live": live, "previous": None} for live in lives]
    decision = fleet.switch_decision(states, requested, force)
    target = colors.target_color(lives, requested)
    assert decision == {"live": colors.live_color(lives), "previous": None, "target": target,
                        "needed": colors.switch_needed(lives, target, force)}


def test_decision_for_a_fleet_that_agrees():
    states = [{"live": "blue", "previous": "green"}, {"live": "blue", "previous": "green"}]
    assert fleet.switch_decision(states) == {"live": "blue", "previous": "green", "target": "green", "needed": True}


def test_decision_for_a_split_fleet_needs_a_colour():
    states = [{"live": "blue", "previous": "green"}, {"live": "green", "previous": "blue"}]
    assert fleet.switch_decision(states)["target"] == ""
    assert fleet.switch_decision(states)["live"] is None
    reunite = fleet.switch_decision(states, "blue")
    assert reunite["target"] == "blue"
    assert reunite["needed"] is True
    # The first previous colour reported, not the last.
    assert reunite["previous"] == "green"


def test_decision_refuses_what_is_not_a_list_of_states():
    with pytest.raises(AnsibleFilterError, match="list"):
        fleet.switch_decision({"live": "blue"})
    with pytest.raises(AnsibleFilterError, match="dict"):
        fleet.switch_decision(["blue"])


def _epoch(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_commit_instant_waits_the_minimum_after_a_quick_stage():
    instant = fleet.commit_instant(1_780_000_000.0, 0.1, min_delay_s=0.25)
    assert instant.endswith("Z")
    assert _epoch(instant) == pytest.approx(1_780_000_000.25, abs=0.001)


def test_commit_instant_scales_with_a_slow_stage():
    instant = fleet.commit_instant(1_780_000_000.0, 2.0, min_delay_s=0.25, factor=1.5)
    assert _epoch(instant) == pytest.approx(1_780_000_003.0, abs=0.001)


@pytest.mark.parametrize(("now", "stage", "minimum", "factor", "message"), [
    ("x", 1.0, 0.25, 1.5, "epoch seconds"),
    (2.0, -1.0, 0.25, 1.5, "must not be negative"),
    (1.0, 2.0, -1, 1.5, "must not be negative"),
])
def test_commit_instant_refuses_bad_input(now, stage, minimum, factor, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet.commit_instant(now, stage, minimum, factor)


def test_fleet_failures_names_failed_and_unreachable_hosts():
    hostvars = {
        "lb1": {"stage": {"changed": False, "staged": True}},
        "lb2": {"stage": {"failed": True, "msg": "nginx -t failed:\n  unknown directive"}},
        "lb3": {"stage": {"unreachable": True, "msg": "Failed to connect to the host via ssh"}},
        "lb4": {},
    }
    assert fleet.fleet_failures(["lb1", "lb2", "lb3", "lb4"], hostvars, "stage") == [
        "lb2: nginx -t failed: unknown directive",
        "lb3: unreachable (Failed to connect to the host via ssh)",
    ]


def test_fleet_failures_refuses_a_string_of_hosts():
    with pytest.raises(AnsibleFilterError, match="list of hosts"):
        fleet.fleet_failures("lb1", {}, "stage")
