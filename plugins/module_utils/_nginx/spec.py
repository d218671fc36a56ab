# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The managed nginx upstream file of one application: validation, defaults, render, describe.

Plain Python (no AnsibleModule) so unit tests cover it without nginx. The managed file
carries one metadata comment line with JSON; it is the record of which colour is live,
when it was switched and from what, read back by ``nginx_upstream`` (previous state) and
``nginx_upstream_info``.
"""

from __future__ import annotations

import os
import re

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.argspec import (
    server_option_duration,
    server_option_int,
    server_option_items,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import (
    is_int,
    validate_name,
    validate_pools,
    validate_traffic,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    ManagedFormat,
    lcm,
)

MODULE_VERSION = "0.1.0"
DEFAULT_CONF_DIR = "/etc/nginx/conf.d"
# Backups, locks and reload markers live here, outside every directory nginx includes.
DEFAULT_STATE_DIR = "/var/lib/switchyard/nginx"
FILE_PREFIX = "bluegreen_"

DURATION_RE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|M|y)?)+\Z")
HASH_KEY_RE = re.compile(r"^[A-Za-z0-9_$.:/-]{1,128}\Z")

BALANCE_METHODS = ("round_robin", "least_conn", "ip_hash", "hash", "random")
# nginx refuses `backup` servers with these methods ("backup" parameter cannot be used).
BALANCE_WITHOUT_BACKUP = ("ip_hash", "hash", "random")
SERVER_OPTION_KEYS = ("max_fails", "fail_timeout", "max_conns")
SERVER_OPTION_HINTS = {
    "weight": "weights are managed by the module: use the weights option",
    "backup": "use idle_backup to list the idle pool as backup servers",
    "down": "remove the server from its pool instead",
}


# Invalid nginx_upstream input: the shared validators' InputError itself, so one except clause covers both.
UpstreamError = InputError


def default_conf_dir(nginx_conf=None):
    """The include directory of the instance: next to ``nginx_conf`` when one is given, else the system's."""
    if nginx_conf:
        return os.path.join(os.path.dirname(os.path.abspath(nginx_conf)), "conf.d")
    return DEFAULT_CONF_DIR


def default_path(name, conf_dir=None, nginx_conf=None):
    return os.path.join(conf_dir or default_conf_dir(nginx_conf), f"{FILE_PREFIX}{name}.conf")


def preview_name(name):
    return f"{name}_preview"


# --- validation -----------------------------------------------------------------------


def validate_server_options(options):
    """nginx's server parameters, checked with the shared server_options helpers (same messages for every router)."""
    clean = {}
    for key, given in server_option_items(options, SERVER_OPTION_KEYS, SERVER_OPTION_HINTS):
        if key == "fail_timeout":
            clean[key] = server_option_duration(key, given, DURATION_RE, "use a duration such as 10, 10s or 500ms")
        else:
            clean[key] = server_option_int(key, given, 0)
    return clean


def _validate_balance(balance, hash_key, idle_backup):
    if balance not in BALANCE_METHODS:
        raise UpstreamError("balance={!r}: use one of {}".format(balance, ", ".join(BALANCE_METHODS)))
    if balance == "hash":
        if not hash_key or not HASH_KEY_RE.match(hash_key):
            raise UpstreamError(
                "balance=hash needs hash_key, an nginx key such as $remote_addr or $cookie_session "
                "(characters A-Z a-z 0-9 _ $ . : / -)"
            )
    elif hash_key:
        raise UpstreamError("hash_key is only used with balance=hash")
    if idle_backup and balance in BALANCE_WITHOUT_BACKUP:
        raise UpstreamError(
            "idle_backup cannot be used with balance={}: nginx does not allow backup servers with {}".format(
                balance, ", ".join(BALANCE_WITHOUT_BACKUP)
            )
        )


def _validate_preview(preview, preview_color, pools, active, weights):
    if preview_color is None:
        return derive_preview_colour(pools, active, weights) if preview else None
    validate_name(preview_color, "preview_color")
    if preview_color not in pools:
        raise UpstreamError(f"preview_color={preview_color!r} is not a colour in pools")
    if not preview:
        raise UpstreamError("preview_color is only used with preview=true")
    if active is not None and preview_color == active:
        raise UpstreamError(f"preview_color={preview_color!r} is the active colour: preview points at an idle colour")
    return preview_color


def build_spec(params):
    """Check the module parameters and return the normalised desired state (a dict).

    Raises UpstreamError with a message for the user; nothing has been touched then.
    The preview colour is read from ``preview_color`` (``preview_colour``, the deprecated
    spelling, is accepted from callers that build params by hand); the file's metadata
    keeps the key ``preview_colour`` so files written by earlier versions stay comparable.
    """
    name = validate_name(params.get("name"), "name")
    pools = validate_pools(params.get("pools"))
    active = params.get("active")
    weights = validate_traffic(pools, active, params.get("weights"))
    balance = params.get("balance") or "round_robin"
    idle_backup = bool(params.get("idle_backup"))
    _validate_balance(balance, params.get("hash_key"), idle_backup)
    keepalive = params.get("keepalive") or 0
    if not is_int(keepalive) or keepalive < 0:
        raise UpstreamError(f"keepalive={keepalive!r}: use an integer >= 0 (0 = no upstream keepalive)")
    preview = bool(params.get("preview"))
    return {
        "name": name,
        "pools": pools,
        "active": active,
        "weights": weights,
        "balance": balance,
        "hash_key": params.get("hash_key") if balance == "hash" else None,
        "idle_backup": idle_backup,
        "keepalive": keepalive,
        "server_options": validate_server_options(params.get("server_options")),
        "preview": preview,
        "preview_colour": _validate_preview(
            preview, params.get("preview_color", params.get("preview_colour")), pools, active, weights
        ),
    }


def check_phase(params):
    """The nginx-specific limits of a two-phase switch (phase stage/commit), as InputError naming the fix."""
    phase = params.get("phase") or "apply"
    if phase not in ("stage", "commit"):
        return
    if params.get("state") == "absent":
        raise UpstreamError(
            f"phase={phase} stages and commits a managed file's new content; state=absent removes the file: "
            "remove it with phase=apply"
        )
    if params.get("adopt"):
        raise UpstreamError(
            f"adopt=true changes another file of the configuration, which phase={phase} does not stage: adopt the "
            "upstream once with phase=apply (the nginx role does), then switch in two phases"
        )


def derive_preview_colour(pools, active, weights):
    """The idle colour for the preview upstream, when it is unambiguous."""
    if active is not None:
        idle = [colour for colour in pools if colour != active]
        if len(idle) == 1:
            return idle[0]
        raise UpstreamError(
            f"preview=true with {len(idle)} idle colours ({', '.join(sorted(idle))}): set preview_color"
        )
    lowest = min(weights.values())
    candidates = [colour for colour, weight in weights.items() if weight == lowest]
    if len(candidates) == 1:
        return candidates[0]
    raise UpstreamError("preview=true with weights: no single lowest-weight colour, set preview_color")


# --- rendering ------------------------------------------------------------------------


def live_servers(spec):
    """(server, weight or None, is_backup) for the live upstream, in a stable order.

    With weights, each colour's weight is its share of the traffic: it is spread over
    that colour's servers (per-server weight = colour weight * L / servers, L = least
    common multiple of the pool sizes) so pools of different sizes keep the split.
    """
    pools = spec["pools"]
    rows = []
    if spec["active"] is not None:
        rows.extend((server, None, False) for server in pools[spec["active"]])
        idle = [colour for colour in pools if colour != spec["active"]]
    else:
        weighted = [colour for colour in pools if spec["weights"][colour] > 0]
        scale = lcm([len(pools[colour]) for colour in weighted])
        for colour in weighted:
            per_server = spec["weights"][colour] * scale // len(pools[colour])
            rows.extend((server, per_server, False) for server in pools[colour])
        idle = [colour for colour in pools if spec["weights"][colour] == 0]
    if spec["idle_backup"]:
        for colour in idle:
            rows.extend((server, None, True) for server in pools[colour])
    return rows


def _server_line(server, weight, backup, options):
    parts = ["server", server]
    if weight is not None and weight != 1:
        parts.append(f"weight={weight}")
    for key in SERVER_OPTION_KEYS:
        if key in options:
            parts.append(f"{key}={options[key]}")
    if backup:
        parts.append("backup")
    return "    {};\n".format(" ".join(parts))


def _upstream_block(name, rows, spec):
    lines = [f"upstream {name} {{\n"]
    balance = spec["balance"]
    # Balancing directives must come before keepalive.
    if balance == "hash":
        lines.append("    hash {};\n".format(spec["hash_key"]))
    elif balance != "round_robin":
        lines.append(f"    {balance};\n")
    lines.extend(_server_line(server, weight, backup, spec["server_options"]) for server, weight, backup in rows)
    if spec["keepalive"]:
        lines.append(f"    keepalive {spec['keepalive']};\n")
    lines.append("}\n")
    return "".join(lines)


def render_body(spec):
    """The nginx configuration (without the metadata line) for ``spec``."""
    blocks = [_upstream_block(spec["name"], live_servers(spec), spec)]
    if spec["preview"]:
        rows = [(server, None, False) for server in spec["pools"][spec["preview_colour"]]]
        blocks.append(_upstream_block(preview_name(spec["name"]), rows, spec))
    return "\n".join(blocks)


SETTINGS_KEYS = ("name", "pools", "active", "weights", "balance", "hash_key", "idle_backup", "keepalive",
                 "server_options", "preview", "preview_colour")


# The file's format (metadata line, previous_*/switched_at bookkeeping) is shared with haproxy_backend.
FORMAT = ManagedFormat("switchyard.bluegreen.nginx_upstream", SETTINGS_KEYS, MODULE_VERSION, render_body)
# The module-level names stay for the tests and tools that read managed files.
METADATA_PREFIX = FORMAT.prefix
render_file = FORMAT.render
next_metadata = FORMAT.next_metadata
same_state = FORMAT.same_state
split_file = FORMAT.split
is_managed = FORMAT.is_managed


# --- parsing --------------------------------------------------------------------------


def describe(text, path):
    """What nginx_upstream_info reports for one managed file (None when it is not managed)."""
    metadata, body = split_file(text)
    if metadata is None:
        return None
    try:
        spec = {key: metadata[key] for key in SETTINGS_KEYS}
        consistent = render_body(spec) == body
    except (KeyError, TypeError, ValueError):
        consistent = False
    return {
        "name": metadata.get("name"),
        "path": path,
        "active": metadata.get("active"),
        "weights": metadata.get("weights"),
        "pools": metadata.get("pools"),
        "balance": metadata.get("balance"),
        "idle_backup": metadata.get("idle_backup"),
        "keepalive": metadata.get("keepalive"),
        "server_options": metadata.get("server_options"),
        "preview": metadata.get("preview_colour") if metadata.get("preview") else None,
        "preview_upstream": (
            preview_name(metadata["name"]) if metadata.get("preview") and metadata.get("name") else None
        ),
        "previous_active": metadata.get("previous_active"),
        "previous_weights": metadata.get("previous_weights"),
        "switched_at": metadata.get("switched_at"),
        "updated_at": metadata.get("updated_at"),
        "module_version": metadata.get("module_version"),
        # False when someone edited the upstream blocks by hand after the last run.
        "consistent": consistent,
    }
