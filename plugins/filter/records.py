# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over what the environment role's recorded.yml read on the colours' hosts.

Each app host has environment_recorded ({colour: {version, port, ...}}) and, when health was
probed, environment_health_by_color ({colour: {healthy, status, version}}).
Documentation: color_versions.yml and color_status.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

COLORS = ("blue", "green")


def _unique(values):
    return list(dict.fromkeys(values))


def _hosts(groups, color, group_prefix, filter_name):
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError(f"{filter_name} expects the groups mapping (groups), got {type(groups).__name__}")
    hosts = groups.get(group_prefix + color) or []
    if isinstance(hosts, (str, bytes, Mapping)) or not isinstance(hosts, Sequence):
        raise AnsibleFilterError(f"{filter_name}: group {group_prefix}{color} must list host names")
    return hosts


def _per_color(hostvars, host, fact, color):
    try:
        facts = hostvars[host]
    except KeyError:
        return {}
    by_color = facts.get(fact) if fact in facts else None
    if not isinstance(by_color, Mapping):
        return {}
    entry = by_color.get(color, {})
    return entry if isinstance(entry, Mapping) else {}


def color_versions(groups, hostvars, color, group_prefix="bluegreen_"):
    """The releases the colour's hosts have recorded, first-seen order, without empties; [] for no colour."""
    if not color:
        return []
    hosts = _hosts(groups, color, group_prefix, "color_versions")
    versions = [_per_color(hostvars, host, "environment_recorded", color).get("version", "") for host in hosts]
    return _unique(version for version in versions if version)


def color_status(groups, hostvars, lives, group_prefix="bluegreen_"):
    """Per colour: hosts, recorded versions, healthy hosts, versions answering, routers it is live on."""
    if isinstance(lives, (str, bytes, Mapping)) or not isinstance(lives, Sequence):
        raise AnsibleFilterError("color_status expects the live colour of each router as a list")
    status = {}
    for color in COLORS:
        hosts = _hosts(groups, color, group_prefix, "color_status")
        records = [_per_color(hostvars, host, "environment_recorded", color) for host in hosts]
        health = [_per_color(hostvars, host, "environment_health_by_color", color) for host in hosts]
        status[color] = {
            "hosts": len(hosts),
            "versions": _unique(record.get("version", "none") for record in records),
            "healthy": sum(1 for probe in health if probe.get("healthy")),
            "serving_versions": _unique(probe.get("version", "") for probe in health if probe.get("version", "")),
            "live_on": sum(1 for live in lives if live == color),
        }
    return status


class FilterModule:
    """Colour records."""

    def filters(self):
        return {
            "color_versions": color_versions,
            "color_status": color_status,
        }
