# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What an HAProxy backend may be: its options, their validation and the normalised spec.

``build_spec`` turns the module parameters into the desired state every other part of the
package works from; ``argument_spec`` is the module's argument spec (the switching options
shared with nginx_upstream come from ``_common.argspec``). Errors are ``HaproxyError``
(an ``InputError``) naming the option and the fix; nothing has been touched then.
"""

from __future__ import annotations

import contextlib
import os
import re

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.argspec import (
    check_reload_command,
    check_seconds,
    server_option_duration,
    server_option_int,
    server_option_items,
    switching_argument_spec,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import validate_name as _validate_name
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import (
    validate_pools as _validate_pools,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import (
    validate_traffic as _validate_traffic,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.staging import (
    check_phase_options,
    two_phase_argument_spec,
)

DEFAULT_CONF_DIR = "/etc/haproxy/conf.d"
DEFAULT_STATE_DIR = "/var/lib/haproxy"
DEFAULT_ADMIN_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_HAPROXY_CONFIG = "/etc/haproxy/haproxy.cfg"
FILE_PREFIX = "bluegreen_"

WEIGHT_MAX = 256  # HAProxy's server weight range is 0-256.
OLD_STATES = ("drain", "maint")
BALANCE_METHODS = ("roundrobin", "static-rr", "leastconn", "first", "source", "random")
DURATION_RE = re.compile(r"^\d+(?:us|ms|s|m|h|d)?\Z")
HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9_./~%+=&?:@!,-]{0,255}\Z")
# The server parameters a task may set, with their argument-spec types, in the order a server line has them.
SERVER_OPTION_TYPES = {
    "check": "bool",
    "inter": "str",
    "fastinter": "str",
    "downinter": "str",
    "rise": "int",
    "fall": "int",
    "maxconn": "int",
    "slowstart": "str",
}
SERVER_OPTION_KEYS = tuple(SERVER_OPTION_TYPES)
DURATION_OPTIONS = ("inter", "fastinter", "downinter", "slowstart")
SERVER_OPTION_HINTS = {
    "weight": "weights are managed by the module: use the active or weights option",
    "disabled": "the module renders idle servers disabled itself: see old_state",
    "backup": "backup servers are not supported; each colour is a pool of its own",
}


def argument_spec():
    """haproxy_backend's argument spec: the shared switching options plus HAProxy's own."""
    return switching_argument_spec(
        name={"type": "str", "required": True},
        old_state={"type": "str", "default": "drain", "choices": list(OLD_STATES)},
        balance={"type": "str", "default": "roundrobin", "choices": list(BALANCE_METHODS)},
        health_check_path={"type": "str"},
        server_options={"type": "dict", "options": {key: {"type": kind} for key, kind in SERVER_OPTION_TYPES.items()}},
        path={"type": "path"},
        state_file={"type": "path"},
        apply={"type": "bool", "default": True},
        admin_socket={"type": "path", "default": DEFAULT_ADMIN_SOCKET},
        socket_timeout={"type": "float", "default": 5},
        reload_command={"type": "list", "elements": "str"},
        reload_timeout={"type": "float", "default": 10},
        drain_timeout={"type": "float", "default": 30},
        haproxy_binary={"type": "str", "default": "haproxy"},
        haproxy_config={"type": "list", "elements": "path", "default": [DEFAULT_HAPROXY_CONFIG]},
        **two_phase_argument_spec(),
    )


def check_params(params):
    """What the argument spec cannot express: durations, a reload command and the configuration list."""
    check_seconds(params, at_least_zero=("reload_timeout", "drain_timeout", "lock_timeout"),
                  above_zero=("socket_timeout",))
    check_reload_command(params, "[systemctl, reload, haproxy]")
    if not params["haproxy_config"]:
        raise HaproxyError("haproxy_config must list at least HAProxy's main configuration file")
    check_phase_params(params)


def check_phase_params(params):
    """The two-phase options (shared checks), and what HAProxy's phases need: a running HAProxy to switch."""
    with _as_haproxy_error():
        check_phase_options(params)
    phase = params["phase"]
    if phase != "apply" and (params.get("state") == "absent" or not params.get("apply", True)):
        raise HaproxyError(f"phase={phase} switches a running HAProxy: it needs state=present and apply=true "
                           "(use phase=apply to remove a backend or to write the file only)")


@contextlib.contextmanager
def _as_haproxy_error():
    """The shared validators raise InputError; this package reports HaproxyError (same message)."""
    try:
        yield
    except HaproxyError:
        raise
    except InputError as exc:
        raise HaproxyError(str(exc), **exc.details) from None


def resolve_state_file(name, state_file):
    """The state file to use: the default for None, no file for '' (returns None); HaproxyError when relative."""
    if state_file is None:
        return default_state_file(name)
    if state_file and not os.path.isabs(state_file):
        raise HaproxyError(f"state_file={state_file!r}: use an absolute path, or '' for no state file")
    return state_file or None


class HaproxyError(InputError):
    """Invalid input for an HAProxy backend: the message names the option and the fix."""


def default_path(name, conf_dir=DEFAULT_CONF_DIR):
    return os.path.join(conf_dir, f"{FILE_PREFIX}{name}.cfg")


def default_state_file(name, state_dir=DEFAULT_STATE_DIR):
    return os.path.join(state_dir, f"{FILE_PREFIX}{name}.state")


def server_name(colour, index):
    # Colours never contain "-", so "%[srv_name,field(1,-)]" gives the colour back in a header.
    return f"{colour}-{index}"


def validate_name(value, option):
    with _as_haproxy_error():
        return _validate_name(value, option)


def validate_server_options(options):
    clean = {}
    with _as_haproxy_error():
        for key, given in server_option_items(options, SERVER_OPTION_KEYS, SERVER_OPTION_HINTS):
            if key == "check":
                if not isinstance(given, bool):
                    raise HaproxyError(f"server_options.check={given!r}: use true or false")
                clean[key] = given
            elif key in DURATION_OPTIONS:
                clean[key] = server_option_duration(key, given, DURATION_RE,
                                                    "use an HAProxy duration such as 2s or 500ms")
            else:
                clean[key] = server_option_int(key, given, 0 if key == "maxconn" else 1)
    return clean


def haproxy_address(server):
    """HAProxy's spelling of an address accepted by validate_pools (unix:/p -> unix@/p)."""
    return "unix@" + server[5:] if server.startswith("unix:") else server


def validate_traffic(pools, active, weights):
    """The weights (None when one colour is active), within HAProxy's weight range."""
    with _as_haproxy_error():
        return _validate_traffic(pools, active, weights, maximum=WEIGHT_MAX, range_note=" (HAProxy's range)")


def build_spec(params):
    """Check the module parameters and return the normalised desired state (a dict).

    Raises HaproxyError with a message for the user; nothing has been touched then.
    """
    name = validate_name(params.get("name"), "name")
    with _as_haproxy_error():
        pools = _validate_pools(params.get("pools"))
    for colour in pools:
        if "-" in colour:  # validate_pools allows only A-Z a-z 0-9 _, kept explicit for the header converter
            raise HaproxyError(f"pools colour {colour!r} must not contain '-'")
    active = params.get("active")
    weights = validate_traffic(pools, active, params.get("weights"))
    old_state = params.get("old_state") or "drain"
    if old_state not in OLD_STATES:
        raise HaproxyError(f"old_state={old_state!r}: use drain or maint")
    balance = params.get("balance") or "roundrobin"
    if balance not in BALANCE_METHODS:
        raise HaproxyError("balance={!r}: use one of {}".format(balance, ", ".join(BALANCE_METHODS)))
    health_check_path = params.get("health_check_path")
    if health_check_path is not None and not HEALTH_PATH_RE.match(health_check_path):
        raise HaproxyError(
            f"health_check_path={health_check_path!r}: use an absolute URL path such as /healthz "
            "(no spaces, quotes or #)"
        )
    server_options = validate_server_options(params.get("server_options"))
    if health_check_path is not None:
        server_options.setdefault("check", True)
    return {
        "name": name,
        "pools": pools,
        "active": active,
        "weights": weights,
        "old_state": old_state,
        "balance": balance,
        "health_check_path": health_check_path,
        "server_options": server_options,
        "state_file": params.get("state_file") or None,
    }
