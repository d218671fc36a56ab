# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""color_pools and host_urls: inventory addresses, checked against the Jinja the roles used before."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import pools

# The roles' default pools before the filter (switch, smoke_test and haproxy had a copy each).
OLD_POOLS = """{%- set pools = {} -%}
{%- for color in ['blue', 'green'] -%}
{%- set _ = pools.update({color: []}) -%}
{%- for host in groups['bluegreen_' ~ color] | default([]) -%}
{%- set _ = pools[color].append((hostvars[host].bluegreen_address
      | default(hostvars[host].ansible_host | default(host))) ~ ':' ~ ports[color]) -%}
{%- endfor -%}
{%- endfor -%}
{{ pools }}"""
OLD_URLS = """{%- set urls = [] -%}
{%- for host in hosts -%}
{%- set _ = urls.append('http://' ~ (hostvars[host].bluegreen_address
      | default(hostvars[host].ansible_host | default(host))) ~ ':' ~ port ~ '/') -%}
{%- endfor -%}
{{ urls }}"""

HOSTVARS = {
    "app1": {"bluegreen_address": "10.0.0.11", "ansible_host": "192.0.2.1"},
    "app2": {"ansible_host": "192.0.2.2"},
    "app3": {},
    "lb1": {"bluegreen_address": "10.0.0.10"},
}
PORTS = {"blue": 8081, "green": "8082"}


def test_filter_module_exposes_every_filter():
    assert set(pools.FilterModule().filters()) == {"color_pools", "host_urls"}


@pytest.mark.parametrize(
    "groups",
    [
        {"bluegreen_blue": ["app1", "app2"], "bluegreen_green": ["app3"]},
        {"bluegreen_blue": ["app1"], "bluegreen_green": ["app1"]},  # one host carries both colours
        {"bluegreen_blue": ["app2"]},  # no green group at all
        {},
    ],
)
def test_color_pools_matches_the_expression_it_replaced(render, groups):
    expected = render(OLD_POOLS, groups=groups, hostvars=HOSTVARS, ports=PORTS)
    assert pools.color_pools(groups, HOSTVARS, PORTS) == expected


def test_color_pools_address_rule_and_prefix():
    groups = {"bluegreen_blue": ["app1", "app2", "app3"], "shop_green": ["lb1"]}
    assert pools.color_pools(groups, HOSTVARS, PORTS) == {
        "blue": ["10.0.0.11:8081", "192.0.2.2:8081", "app3:8081"], "green": []}
    assert pools.color_pools(groups, HOSTVARS, PORTS, group_prefix="shop_") == {"blue": [], "green": ["10.0.0.10:8082"]}


def test_a_host_without_variables_is_named_by_itself():
    assert pools.color_pools({"bluegreen_blue": ["ghost"]}, {}, PORTS)["blue"] == ["ghost:8081"]


def test_color_pools_refuses_missing_ports_or_groups():
    with pytest.raises(AnsibleFilterError, match="port for blue and for green"):
        pools.color_pools({}, HOSTVARS, {"blue": 8081})
    with pytest.raises(AnsibleFilterError, match="groups mapping"):
        pools.color_pools(["app1"], HOSTVARS, PORTS)
    with pytest.raises(AnsibleFilterError, match="list of inventory host names"):
        pools.color_pools({"bluegreen_blue": "app1"}, HOSTVARS, PORTS)


@pytest.mark.parametrize("hosts", [["lb1", "app2", "app3"], []])
def test_host_urls_matches_the_expression_it_replaced(render, hosts):
    expected = render(OLD_URLS, hosts=hosts, hostvars=HOSTVARS, port=80)
    assert pools.host_urls(hosts, HOSTVARS, 80, "/") == expected


def test_host_urls_without_path_and_with_scheme():
    assert pools.host_urls(["lb1"], HOSTVARS, 8080) == ["http://10.0.0.10:8080"]
    assert pools.host_urls(["lb1"], HOSTVARS, 443, "/", scheme="https") == ["https://10.0.0.10:443/"]
    assert pools.host_urls(None, HOSTVARS, 80) == []
