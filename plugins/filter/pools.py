# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build addresses from the inventory: the colours' pools and the load balancers' URLs.

A host's address is its bluegreen_address, else its ansible_host, else its inventory name, the
same rule in every role. Documentation: color_pools.yml and host_urls.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

COLORS = ("blue", "green")


def _address(host, hostvars):
    try:
        facts = hostvars[host]
    except KeyError:
        facts = {}
    for name in ("bluegreen_address", "ansible_host"):
        if name in facts:
            return str(facts[name])
    return str(host)


def _host_list(hosts, filter_name):
    if hosts is None:
        return []
    if isinstance(hosts, (str, bytes, Mapping)):
        raise AnsibleFilterError(f"{filter_name} expects a list of inventory host names, got {type(hosts).__name__}")
    return list(hosts)


def color_pools(groups, hostvars, ports, group_prefix="bluegreen_"):
    """{blue: ["address:port", ...], green: [...]} from the groups <prefix>blue and <prefix>green."""
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError(f"color_pools expects the groups mapping (groups), got {type(groups).__name__}")
    if not isinstance(ports, Mapping) or any(color not in ports for color in COLORS):
        raise AnsibleFilterError(f"color_pools needs a port for blue and for green (ports), got {ports!r}")
    pools = {}
    for color in COLORS:
        hosts = _host_list(groups.get(group_prefix + color), "color_pools")
        pools[color] = [f"{_address(host, hostvars)}:{ports[color]}" for host in hosts]
    return pools


def host_urls(hosts, hostvars, port, path="", scheme="http"):
    """One base URL per host: <scheme>://<address>:<port><path>."""
    return [f"{scheme}://{_address(host, hostvars)}:{port}{path}" for host in _host_list(hosts, "host_urls")]


class FilterModule:
    """Inventory addresses."""

    def filters(self):
        return {
            "color_pools": color_pools,
            "host_urls": host_urls,
        }
