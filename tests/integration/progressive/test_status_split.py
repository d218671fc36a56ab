# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""status.yml's report line for a router that is split (a progressive switch in progress or stopped mid-way).

Renders the playbook's own message template with Ansible's templar, for a split and for a single live colour.
"""

from __future__ import annotations

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.conftest import REPO

STATUS = {colour: {"live_on": 1, "versions": ["1.0.0"], "healthy": 1, "hosts": 1, "serving_versions": []}
          for colour in ("blue", "green")}


def report(state: dict) -> list:
    plays = yaml.safe_load((REPO / "playbooks" / "status.yml").read_text())
    task = next(t for t in plays[1]["tasks"] if t["name"] == "Show the status")
    variables = {"ansible_play_hosts": ["lb0"], "hostvars": {"lb0": {"switch_router_state": state}},
                 "bluegreen_status": STATUS}
    return Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template(task["ansible.builtin.debug"]["msg"]))


def test_a_split_router_shows_as_a_switch_in_progress():
    lines = report({"live": None, "previous": "blue", "weights": {"green": 20, "blue": 80},
                    "switched_at": "2026-11-29T16:00:00Z"})
    assert lines[1] == ('router lb0: live SPLIT (a switch in progress, or one stopped mid-way) weights '
                        '{"green": 20, "blue": 80}, switched 2026-11-29T16:00:00Z from blue')


def test_a_single_live_colour_is_shown_as_before():
    lines = report({"live": "green", "previous": "blue", "weights": None, "switched_at": "2026-11-29T16:00:00Z"})
    assert lines[1] == "router lb0: live green, switched 2026-11-29T16:00:00Z from blue"
