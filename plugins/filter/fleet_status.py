# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which load balancer serves which colour, and what reunites a split fleet (the status playbook).

Documentation: fleet_split.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

COLORS = ("blue", "green")
# What a host shows in place of a colour.
SPLIT_ROUTER = "split"          # the router itself splits traffic (weights): a progressive switch stopped mid-way
UNREACHABLE = "unreachable"     # not reached, or its state could not be read


def _list(value, what):
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise AnsibleFilterError(f"fleet_split expects {what} as a list, got {type(value).__name__}")
    return list(value)


def _state_of(hostvars, host):
    try:
        facts = hostvars[host]
        state = facts.get("switch_router_state")
    except (KeyError, TypeError):
        return None
    return state if isinstance(state, Mapping) else None


def _old_and_new(by_color, states):
    """The colour the fleet was on before the interrupted switch, and the one it was going to.

    The colour whose hosts switched last is the one the interrupted run was moving to; without
    switch times the colour on more hosts is taken as the old one (blue on a tie).
    """
    present = [color for color in COLORS if by_color[color]]
    if len(present) == 2:
        latest = {color: max((str(states[h].get("switched_at") or "") for h in by_color[color]), default="")
                  for color in present}
        if latest["blue"] != latest["green"] and all(latest.values()):
            new = max(present, key=lambda color: latest[color])
        else:
            new = min(present, key=lambda color: (len(by_color[color]), color == "blue"))
        return next(color for color in present if color != new), new
    if len(present) == 1:
        return present[0], None
    previous = [states[h].get("previous") for h in by_color[SPLIT_ROUTER] if states[h].get("previous") in COLORS]
    return (previous[0] if previous else "blue"), None


def fleet_split(hosts, hostvars, reached=None, playbook_dir="playbooks"):
    """Each router host's live colour, whether the fleet is split, and the one command that reunites it.

    hosts: every router host of the play (``ansible_play_hosts_all``); reached: the hosts whose state
    was read (``ansible_play_hosts``; default: every host). A host not reached, or without
    ``switch_router_state``, shows ``unreachable``; a router that splits traffic itself shows ``split``.
    """
    hosts = _list(hosts, "the router hosts")
    reached = set(hosts if reached is None else _list(reached, "the reached hosts"))
    states, colors = {}, {}
    for host in hosts:
        state = _state_of(hostvars, host) if host in reached else None
        states[host] = state or {}
        if state is None:
            colors[host] = UNREACHABLE
        elif state.get("live") in COLORS:
            colors[host] = state["live"]
        elif state.get("live") in (None, ""):
            colors[host] = SPLIT_ROUTER
        else:
            raise AnsibleFilterError(f"fleet_split: router {host} reports live colour {state.get('live')!r}")
    by_color = {key: [h for h in hosts if colors[h] == key] for key in (*COLORS, SPLIT_ROUTER, UNREACHABLE)}
    served = [key for key in (*COLORS, SPLIT_ROUTER) if by_color[key]]
    split = len(served) > 1 or bool(by_color[SPLIT_ROUTER])
    old, new = _old_and_new(by_color, states)
    rollback = f"ansible-playbook {playbook_dir}/rollback.yml -e bluegreen_rollback_to={old}"
    # Also rollback.yml: switch.yml's smoke test goes through each LB's preview listener, which serves the other
    # colour on the LBs already there, so it refuses a split fleet (docs/runbooks/switch-failed-halfway.md).
    finish = f"ansible-playbook {playbook_dir}/rollback.yml -e bluegreen_rollback_to={new}" if new else ""
    line = ""
    if split:
        where = "; ".join(
            f"{key if key in COLORS else key.upper()} on {', '.join(by_color[key])}"
            for key in (*COLORS, SPLIT_ROUTER, UNREACHABLE) if by_color[key])
        line = (f"SPLIT FLEET: {where}. Reunite on {old} (live before the interrupted switch): {rollback}"
                + (f" - or finish the switch to {new}: {finish}" if finish else ""))
    elif by_color[UNREACHABLE]:
        line = (f"UNREACHABLE: {', '.join(by_color[UNREACHABLE])} (live colour unknown); the others serve "
                f"{served[0] if served else 'nothing known'}")
    return {
        "split": split,
        "colors": colors,
        "hosts_by_color": by_color,
        "live": served[0] if len(served) == 1 and served[0] in COLORS else None,
        "old": old if split else None,
        "new": new if split else None,
        "command": rollback if split else "",
        "finish_command": finish if split else "",
        "line": line,
    }


class FilterModule:
    """The fleet's colours for the status playbook."""

    def filters(self):
        return {"fleet_split": fleet_split}
