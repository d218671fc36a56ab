# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The managed backend file: desired server states, the backend section, and reading it back.

The file holds one ``backend`` section whose servers are the pools of every colour (server
names ``<colour>-<n>``). The chosen traffic state is persisted IN that file (idle servers
``disabled`` or ``weight 0``), so a reload or restart comes back on the chosen colour. Its
header and metadata line are the shared ``ManagedFormat``.
"""

from __future__ import annotations

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    HISTORY_KEYS,
    ManagedFormat,
    lcm,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.spec import (
    SERVER_OPTION_KEYS,
    WEIGHT_MAX,
    haproxy_address,
    server_name,
)

MODULE_VERSION = "0.1.0"
OWNER = "switchyard.bluegreen.haproxy_backend"


def colour_share(spec):
    """Colour -> its weight (active mode: the active colour 1, the others 0)."""
    if spec["active"] is not None:
        return {colour: (1 if colour == spec["active"] else 0) for colour in spec["pools"]}
    return dict(spec["weights"])


def server_states(spec):
    """Server name -> {colour, address, state (ready|drain|maint), weight} in a stable order.

    A colour's weight is its share of the traffic, spread over its servers (weight * L /
    servers, L = least common multiple of the pool sizes, scaled down into 1-256 when
    needed) so pools of different sizes keep the split; equal pools get the weight as is.
    """
    shares = colour_share(spec)
    serving = [colour for colour in spec["pools"] if shares[colour] > 0]
    scale = lcm([len(spec["pools"][colour]) for colour in serving])
    raw = {colour: shares[colour] * scale / len(spec["pools"][colour]) for colour in serving}
    factor = min(1.0, WEIGHT_MAX / max(raw.values()))
    states = {}
    for colour, servers in spec["pools"].items():
        for index, address in enumerate(servers, start=1):
            entry = {"colour": colour, "address": address}
            if colour in raw:
                entry.update(state="ready", weight=max(1, round(raw[colour] * factor)))
            else:
                entry.update(state=spec["old_state"], weight=0)
            states[server_name(colour, index)] = entry
    return states


def _server_line(name, entry, options):
    parts = ["server", name, haproxy_address(entry["address"]), "weight", str(entry["weight"])]
    if options.get("check"):
        parts.append("check")
    for key in SERVER_OPTION_KEYS[1:]:
        if key in options:
            parts.extend((key, str(options[key])))
    if entry["state"] == "maint":
        parts.append("disabled")
    return "    {}\n".format(" ".join(parts))


def render_body(spec):
    """The backend section (without the metadata line) for ``spec``."""
    lines = [f"backend {spec['name']}\n", "    mode http\n", f"    balance {spec['balance']}\n"]
    if spec["state_file"]:
        # A state file of this backend only: the module never rewrites a file other backends load.
        lines.append("    load-server-state-from-file local\n")
        lines.append(f"    server-state-file-name {spec['state_file']}\n")
    if spec["health_check_path"]:
        lines.append("    option httpchk\n")
        lines.append(f"    http-check send meth GET uri {spec['health_check_path']}\n")
    for name, entry in server_states(spec).items():
        lines.append(_server_line(name, entry, spec["server_options"]))
    return "".join(lines)


SETTINGS_KEYS = ("name", "pools", "active", "weights", "old_state", "balance", "health_check_path",
                 "server_options", "state_file")


# The file's format (metadata line, previous_*/switched_at bookkeeping) is shared with nginx_upstream.
FORMAT = ManagedFormat(OWNER, SETTINGS_KEYS, MODULE_VERSION, render_body)


def spec_from_metadata(metadata):
    """The spec a managed file was written from (None when the metadata is incomplete)."""
    try:
        spec = {key: metadata[key] for key in SETTINGS_KEYS}
        server_states(spec)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    return spec


def describe(text, path):
    """The persisted state of one managed file (None when it is not managed)."""
    metadata, body = FORMAT.split(text)
    if metadata is None:
        return None
    spec = spec_from_metadata(metadata)
    consistent = spec is not None and render_body(spec) == body
    info = {"name": metadata.get("name"), "path": path}
    info.update((key, metadata.get(key)) for key in SETTINGS_KEYS + HISTORY_KEYS if key != "name")
    info["consistent"] = consistent
    info["servers"] = _servers_view(spec) if spec is not None else None
    return info


def _servers_view(spec):
    """server_states for a result: ``color`` beside ``colour`` (the old key, deprecated, kept for callers)."""
    return {name: dict(entry, color=entry["colour"]) for name, entry in server_states(spec).items()}
