# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_split: which load balancer serves which colour, and the command that reunites a split fleet."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import fleet_status


def hostvars_of(**states):
    return {host: {"switch_router_state": state} for host, state in states.items()}


def state(live, switched_at=None, previous=None, weights=None):
    return {"live": live, "switched_at": switched_at, "previous": previous, "weights": weights}


def test_filter_module_exposes_fleet_split():
    assert set(fleet_status.FilterModule().filters()) == {"fleet_split"}


def test_one_colour_everywhere_is_not_split():
    hv = hostvars_of(lb1=state("blue"), lb2=state("blue"), lb3=state("blue"))
    fleet = fleet_status.fleet_split(["lb1", "lb2", "lb3"], hv)
    assert fleet["split"] is False
    assert fleet["live"] == "blue"
    assert fleet["colors"] == {"lb1": "blue", "lb2": "blue", "lb3": "blue"}
    assert fleet["line"] == "" and fleet["command"] == ""


def test_a_split_fleet_names_each_host_and_the_command_back_to_the_old_colour():
    # lb3 committed green last (a switch to green cancelled half-way): blue is the old colour.
    hv = hostvars_of(lb1=state("blue", "2026-11-29T10:00:00Z", "green"),
                     lb2=state("green", "2026-11-29T12:00:01Z", "blue"),
                     lb3=state("green", "2026-11-29T12:00:01Z", "blue"))
    fleet = fleet_status.fleet_split(["lb1", "lb2", "lb3"], hv)
    assert fleet["split"] is True
    assert fleet["live"] is None
    assert fleet["colors"] == {"lb1": "blue", "lb2": "green", "lb3": "green"}
    assert (fleet["old"], fleet["new"]) == ("blue", "green")
    assert fleet["command"] == "ansible-playbook playbooks/rollback.yml -e bluegreen_rollback_to=blue"
    assert fleet["finish_command"] == "ansible-playbook playbooks/rollback.yml -e bluegreen_rollback_to=green"
    assert fleet["line"].startswith("SPLIT FLEET: blue on lb1; green on lb2, lb3. Reunite on blue")
    assert fleet["command"] in fleet["line"] and fleet["finish_command"] in fleet["line"]


def test_without_switch_times_the_colour_on_more_hosts_is_the_old_one():
    hv = hostvars_of(lb1=state("green"), lb2=state("green"), lb3=state("blue"))
    fleet = fleet_status.fleet_split(["lb1", "lb2", "lb3"], hv)
    assert (fleet["old"], fleet["new"]) == ("green", "blue")


def test_a_router_that_splits_traffic_itself_is_a_split_fleet():
    hv = hostvars_of(lb1=state(None, "2026-11-29T12:00:00Z", "blue", {"blue": 90, "green": 10}))
    fleet = fleet_status.fleet_split(["lb1"], hv)
    assert fleet["split"] is True
    assert fleet["colors"] == {"lb1": "split"}
    assert fleet["old"] == "blue" and fleet["new"] is None
    assert fleet["line"].startswith("SPLIT FLEET: SPLIT on lb1. Reunite on blue")
    assert fleet["finish_command"] == ""


def test_an_unreachable_host_is_shown_and_does_not_make_a_split():
    hv = hostvars_of(lb1=state("blue"), lb2=state("blue"))
    hv["lb3"] = {}  # never reached: no switch_router_state
    fleet = fleet_status.fleet_split(["lb1", "lb2", "lb3"], hv, ["lb1", "lb2"])
    assert fleet["split"] is False
    assert fleet["colors"]["lb3"] == "unreachable"
    assert fleet["live"] == "blue"
    assert fleet["line"] == "UNREACHABLE: lb3 (live colour unknown); the others serve blue"


def test_a_host_left_out_of_reached_counts_as_unreachable_even_with_an_old_state():
    # A host that failed after an earlier read keeps its fact; only the reached hosts count.
    hv = hostvars_of(lb1=state("blue"), lb2=state("green"))
    fleet = fleet_status.fleet_split(["lb1", "lb2"], hv, ["lb1"])
    assert fleet["colors"] == {"lb1": "blue", "lb2": "unreachable"}
    assert fleet["split"] is False


def test_split_with_an_unreachable_host_lists_all_three_kinds():
    hv = hostvars_of(lb1=state("blue"), lb2=state("green"), lb3=state("blue"))
    fleet = fleet_status.fleet_split(["lb1", "lb2", "lb3", "lb4"], hv, ["lb1", "lb2", "lb3"])
    assert fleet["split"] is True
    assert "blue on lb1, lb3; green on lb2; UNREACHABLE on lb4." in fleet["line"]


@pytest.mark.parametrize("hosts", ["lb1", {"lb1": 1}, None, 3])
def test_hosts_must_be_a_list(hosts):
    with pytest.raises(AnsibleFilterError, match="fleet_split expects the router hosts as a list"):
        fleet_status.fleet_split(hosts, {})


def test_an_unknown_live_colour_is_refused_with_the_host():
    with pytest.raises(AnsibleFilterError, match="router lb1 reports live colour 'purple'"):
        fleet_status.fleet_split(["lb1"], hostvars_of(lb1=state("purple")))
