# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The command planner: how the running servers differ from the desired ones, and what to send.

Pure functions over the views of ``runtime`` and the desired states of ``render``: which
differences need a reload (``pools_mismatch``, ``settings_changed``), what drifted from the
file (``drift_between``), and the runtime API commands in the order that never answers 503
(``plan_commands``).
"""

from __future__ import annotations

import ipaddress

from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import (
    DRAIN_MASK,
    MAINT_MASK,
    describe_state,
)


def _same(desired, current):
    if desired["state"] != current["state"]:
        return False
    return desired["state"] != "ready" or desired["weight"] == current["weight"]


def pools_mismatch(rows, desired):
    """Why the running servers differ from ``desired`` (empty list: they match)."""
    running = {row["srv_name"]: row for row in rows}
    problems = []
    for name, entry in desired.items():
        row = running.get(name)
        if row is None:
            problems.append(f"server {name} ({entry['address']}) is unknown to the running HAProxy")
            continue
        address = entry["address"]
        if address.startswith("unix:"):
            continue
        host, _sep, port = address.rpartition(":")
        if row.get("srv_port") != port:
            problems.append(f"server {name} runs on port {row.get('srv_port')}, pools say {address}")
            continue
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue  # a host name: HAProxy shows the resolved address
        if row.get("srv_addr") != str(literal):
            problems.append(f"server {name} runs on {row.get('srv_addr')}:{row.get('srv_port')}, pools say {address}")
    for name in running:
        if name not in desired:
            problems.append(f"the running HAProxy has server {name} that pools do not list")
    return problems


RELOAD_SETTINGS = ("balance", "health_check_path", "server_options", "state_file")


def settings_changed(old_metadata, spec):
    """Backend settings that only a reload brings into the running HAProxy (the traffic state is not one)."""
    if not old_metadata:
        return []
    return [f"{key} changed ({old_metadata.get(key)!r} -> {spec[key]!r})"
            for key in RELOAD_SETTINGS if old_metadata.get(key) != spec[key]]


def drift_between(runtime, persisted):
    """Differences between the running state and the persisted (file) state, one sentence each."""
    drift = []
    for name, entry in persisted.items():
        current = runtime.get(name)
        if current is None:
            drift.append(f"{name}: in the file, unknown to the running HAProxy")
        elif not _same(entry, current):
            drift.append(f"{name}: running {describe_state(current)}, file says {describe_state(entry)}")
    for name in runtime:
        if name not in persisted:
            drift.append(f"{name}: running, not in the file")
    return drift


def plan_commands(backend, runtime, desired):
    """Runtime API commands that bring ``runtime`` to ``desired``, in the safe order.

    Servers that must take traffic come first (weight before state, so a server is
    never ready with a stale weight); only then do servers leave the rotation. The
    reverse order is what gives clients 503s.
    """
    raise_cmds, lower_cmds, leave_cmds = [], [], []
    for name, entry in desired.items():
        current = runtime[name]
        target = f"{backend}/{name}"
        if entry["state"] == "ready":
            commands = []
            if current["weight"] != entry["weight"]:
                commands.append(f"set weight {target} {entry['weight']}")
            if current["admin_state"] & (MAINT_MASK | DRAIN_MASK):
                commands.append(f"set server {target} state ready")
            if current["state"] == "ready" and entry["weight"] < current["weight"]:
                lower_cmds.extend(commands)
            else:
                raise_cmds.extend(commands)
        elif entry["state"] == "drain":
            # Weight 0 from the file is drain already; a maint server goes to drain too.
            if current["state"] != "drain":
                leave_cmds.append(f"set server {target} state drain")
        elif current["state"] != "maint":
            leave_cmds.append(f"set server {target} state maint")
    return raise_cmds + lower_cmds + leave_cmds


def colours_without_healthy_server(runtime, desired):
    """Colours that must take traffic but whose servers all report health 'down' (maint servers are not checked)."""
    verdict = {}
    for name, entry in desired.items():
        if entry["state"] != "ready":
            continue
        current = runtime[name]
        # A server in maint is not checked: its health is unknown, which does not block.
        healthy = current["state"] == "maint" or current.get("health") != "down"
        verdict[entry["colour"]] = verdict.get(entry["colour"], False) or healthy
    return sorted(colour for colour, ok in verdict.items() if not ok)


def leaving_servers(runtime, desired):
    """Servers that took traffic before and must not now (the ones to wait for)."""
    return [name for name, entry in desired.items()
            if entry["state"] != "ready" and runtime.get(name, {}).get("state") == "ready"]


def runtime_text(view):
    return "".join(f"{name} {describe_state(entry)}\n" for name, entry in sorted((view or {}).items()))
