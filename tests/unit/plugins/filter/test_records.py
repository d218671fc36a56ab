# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""color_versions and color_status, checked against the Jinja the playbooks used before."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import records

# deploy.yml / switch.yml before the filter.
OLD_VERSIONS = (
    "{{ (groups['bluegreen_' ~ color] | default([]) if color else [])"
    " | map('extract', hostvars, ['environment_recorded']) | map(attribute=color, default={})"
    " | map(attribute='version', default='') | select | unique | list }}"
)
# status.yml before the filter.
OLD_STATUS = """{%- set colors = {} -%}
{%- for color in ['blue', 'green'] -%}
{%- set hosts = groups['bluegreen_' ~ color] | default([]) -%}
{%- set records = hosts | map('extract', hostvars, 'environment_recorded') | map(attribute=color, default={}) | list -%}
{%- set health = hosts | map('extract', hostvars, 'environment_health_by_color')
      | map(attribute=color, default={}) | list -%}
{%- set _ = colors.update({color: {
      'hosts': hosts | length,
      'versions': records | map(attribute='version', default='none') | unique | list,
      'healthy': health | selectattr('healthy', 'defined') | selectattr('healthy') | list | length,
      'serving_versions': health | map(attribute='version', default='') | select | unique | list,
      'live_on': lives | select('equalto', color) | list | length}}) -%}
{%- endfor -%}
{{ colors }}"""

HOSTVARS = {
    # One host carrying both colours side by side, both recorded and probed.
    "app1": {
        "environment_recorded": {"blue": {"version": "1.0.0", "port": 8081},
                                 "green": {"version": "2.0.0", "port": 8082}},
        "environment_health_by_color": {"blue": {"healthy": True, "status": 200, "version": "1.0.0"},
                                        "green": {"healthy": False, "status": 0, "version": ""}},
    },
    # A green host still on the old release (a partial deploy).
    "app2": {
        "environment_recorded": {"green": {"version": "1.0.0"}},
        "environment_health_by_color": {"green": {"healthy": True, "status": 200, "version": "1.0.0"}},
    },
    # A green host that never recorded anything.
    "app3": {"environment_recorded": {}, "environment_health_by_color": {}},
}
GROUPS = {"bluegreen_blue": ["app1"], "bluegreen_green": ["app1", "app2", "app3"]}


def test_filter_module_exposes_every_filter():
    assert set(records.FilterModule().filters()) == {"color_versions", "color_status"}


@pytest.mark.parametrize("color", ["blue", "green"])
def test_color_versions_matches_the_expression_it_replaced(render, color):
    expected = render(OLD_VERSIONS, groups=GROUPS, hostvars=HOSTVARS, color=color)
    assert records.color_versions(GROUPS, HOSTVARS, color) == expected


def test_color_versions_of_a_colour():
    assert records.color_versions(GROUPS, HOSTVARS, "green") == ["2.0.0", "1.0.0"]
    assert records.color_versions(GROUPS, HOSTVARS, "") == []
    assert records.color_versions(GROUPS, HOSTVARS, None) == []
    assert records.color_versions({}, HOSTVARS, "blue") == []


@pytest.mark.parametrize("lives", [["blue"], ["blue", "green", None], [], [None]])
def test_color_status_matches_the_expression_it_replaced(render, lives):
    old = render(OLD_STATUS, groups=GROUPS, hostvars=HOSTVARS, lives=lives)
    assert records.color_status(GROUPS, HOSTVARS, lives) == old


def test_color_status_counts():
    status = records.color_status(GROUPS, HOSTVARS, ["green", "green"])
    assert status["green"] == {"hosts": 3, "versions": ["2.0.0", "1.0.0", "none"], "healthy": 1,
                               "serving_versions": ["1.0.0"], "live_on": 2}
    assert status["blue"]["live_on"] == 0 and status["blue"]["healthy"] == 1
    empty = records.color_status({}, {}, [])
    assert empty["blue"] == {"hosts": 0, "versions": [], "healthy": 0, "serving_versions": [], "live_on": 0}


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="groups mapping"):
        records.color_versions(["app1"], HOSTVARS, "blue")
    with pytest.raises(AnsibleFilterError, match="must list host names"):
        records.color_status({"bluegreen_blue": "app1"}, HOSTVARS, [])
    with pytest.raises(AnsibleFilterError, match="live colour of each router as a list"):
        records.color_status(GROUPS, HOSTVARS, "blue")
