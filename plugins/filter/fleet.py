# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for a switch across a fleet of routers: the one decision, and the two-phase commit instant.

Documentation: switch_decision.yml, commit_instant.yml and fleet_failures.yml next to this file.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter.colors import live_color, switch_needed, target_color


def switch_decision(states, requested="", force=False):
    """One decision from every router's state: {live, previous, target, needed}.

    ``states``: the ``switch_router_state`` of each router host ({live, previous, ...}).
    """
    if isinstance(states, (str, bytes, Mapping)) or not isinstance(states, Sequence):
        raise AnsibleFilterError(f"switch_decision expects the router state of each host as a list, got "
                                 f"{type(states).__name__}")
    for state in states:
        if not isinstance(state, Mapping):
            raise AnsibleFilterError(f"switch_decision: each router state must be a dict with 'live', got {state!r}")
    lives = [state.get("live") for state in states]
    previouses = []
    for state in states:
        previous = state.get("previous")
        if previous and previous not in previouses:
            previouses.append(previous)
    target = target_color(lives, requested)
    return {
        "live": live_color(lives),
        "previous": previouses[0] if previouses else None,
        "target": target,
        "needed": switch_needed(lives, target, force),
    }


def commit_instant(now, stage_s, min_delay_s=0.25, factor=1.5):
    """The UTC instant (ISO 8601, ms, ``Z``) at which every router commits a staged switch.

    ``now``: epoch seconds; ``stage_s``: how long the stage task took on the controller, from its start
    until the slowest host returned. Starting the commit task on every host takes about as long, so
    the instant is ``now + max(min_delay_s, factor * stage_s)``.
    """
    try:
        current, stage, minimum, scale = float(now), float(stage_s), float(min_delay_s), float(factor)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"commit_instant expects epoch seconds and numbers: {exc}") from exc
    if stage < 0 or minimum < 0 or scale < 0:
        raise AnsibleFilterError("commit_instant: stage_s, min_delay_s and factor must not be negative")
    instant = current + max(minimum, scale * stage)
    moment = datetime.datetime.fromtimestamp(instant, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fleet_failures(hosts, hostvars, result_name):
    """``host: reason`` for each host whose registered result ``result_name`` failed or was unreachable."""
    if isinstance(hosts, (str, bytes, Mapping)) or not isinstance(hosts, Sequence):
        raise AnsibleFilterError("fleet_failures expects the list of hosts (ansible_play_hosts)")
    failures = []
    for host in hosts:
        result = hostvars[host].get(result_name)
        if not isinstance(result, Mapping):
            continue
        if result.get("unreachable"):
            failures.append(f"{host}: unreachable ({_one_line(result.get('msg'))})")
        elif result.get("failed"):
            failures.append(f"{host}: {_one_line(result.get('msg'))}")
    return failures


def _one_line(message, limit=400):
    text = " ".join(str(message or "no message").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FilterModule:
    """Fleet switching."""

    def filters(self):
        return {
            "switch_decision": switch_decision,
            "commit_instant": commit_instant,
            "fleet_failures": fleet_failures,
        }
