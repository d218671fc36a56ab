# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Argument-spec pieces that the switching modules (nginx_upstream, haproxy_backend) share.

Paired with the doc fragment ``switchyard.bluegreen.switching``, which documents the same
options: a module that takes ``switching_argument_spec()`` extends that fragment, and both
stay in step because there is one copy of each. Only options with the same type, default
and meaning in every router are here; a router's own options (its ``weights`` range, its
``reload_timeout`` default, its ``balance`` choices, ...) stay in its module.

- ``switching_argument_spec(**router_options)``: ``pools``, ``active``, ``weights``, ``backup``,
  ``lock_timeout`` and ``state``, plus the router's options.
- ``SWITCHING_MUTUALLY_EXCLUSIVE`` / ``SWITCHING_REQUIRED_IF``: the traffic rules that go
  with them (one of ``active`` and ``weights``, and ``pools``, when ``state=present``).
- ``renamed_option``: an option under its new name with the old one kept as a deprecated
  alias (the ``colour`` -> ``color`` spellings).
- ``check_seconds`` / ``check_reload_command``: the number and list checks the argument
  spec cannot express, as ``InputError`` naming the option and the fix.
- ``server_option_items`` / ``server_option_duration`` / ``server_option_int``: the checks of a
  router's ``server_options`` (which keys, durations, whole numbers); each router lists its keys.
"""

from __future__ import annotations

import copy

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import is_int

COLLECTION_NAME = "switchyard.bluegreen"
# The release that drops the deprecated option names.
DEPRECATION_VERSION = "1.0.0"

_SWITCHING_OPTIONS = {
    "pools": {"type": "dict"},
    "active": {"type": "str"},
    # The weights' range is the router's: each module documents it; validation passes its maximum.
    "weights": {"type": "dict"},
    "backup": {"type": "bool", "default": True},
    "lock_timeout": {"type": "float", "default": 60},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}

SWITCHING_MUTUALLY_EXCLUSIVE = [("active", "weights")]
SWITCHING_REQUIRED_IF = [
    ("state", "present", ("pools",)),
    ("state", "present", ("active", "weights"), True),
]


def switching_argument_spec(**router_options):
    """The shared options (fresh copies) updated with the router's own ``router_options``."""
    spec = copy.deepcopy(_SWITCHING_OPTIONS)
    spec.update(router_options)
    return spec


def renamed_option(old_name, **option):
    """``option`` with ``old_name`` as a deprecated alias (removed in DEPRECATION_VERSION).

    Use it under the new name: ``{"preview_color": renamed_option("preview_colour", type="str")}``.
    ``ansible-doc`` shows the alias and AnsibleModule warns when a task still uses it.
    """
    option = dict(option)
    deprecation = {"name": old_name, "version": DEPRECATION_VERSION, "collection_name": COLLECTION_NAME}
    option["aliases"] = [*option.get("aliases", ()), old_name]
    option["deprecated_aliases"] = [*option.get("deprecated_aliases", ()), deprecation]
    return option


def check_seconds(params, at_least_zero=(), above_zero=()):
    """Durations in seconds: ``at_least_zero`` options must be >= 0, ``above_zero`` ones > 0."""
    for option in at_least_zero:
        if params[option] < 0:
            raise InputError(f"{option}={params[option]}: use a number of seconds >= 0")
    for option in above_zero:
        if params[option] <= 0:
            raise InputError(f"{option}={params[option]}: use a number of seconds > 0")


def check_reload_command(params, example):
    """An explicit reload_command must name a program; ``example`` is the router's usual one."""
    if params["reload_command"] is not None and not params["reload_command"]:
        raise InputError(f"reload_command must not be empty: give an argument list like {example}")


def server_option_items(options, known, hints):
    """(key, value) of every server option given a value, in order.

    ``known`` are the router's keys; ``hints`` maps a key the module manages itself to what
    to use instead. Either kind of wrong key is an InputError naming it.
    """
    for key, given in (options or {}).items():
        if key in hints:
            raise InputError(f"server_options.{key} is not allowed: {hints[key]}")
        if key not in known:
            raise InputError(
                "server_options.{} is not a known server parameter; use {}".format(key, ", ".join(known))
            )
        if given is not None:
            yield key, given


def server_option_duration(key, given, pattern, hint):
    """A duration as text (a bare integer too) that ``pattern`` accepts; ``hint`` says what to write."""
    text = str(given) if is_int(given) else given
    if not isinstance(text, str) or not pattern.match(text):
        raise InputError(f"server_options.{key}={given!r}: {hint}")
    return text


def server_option_int(key, given, minimum):
    """A whole number >= ``minimum`` (digits in a string too)."""
    value = int(given) if isinstance(given, str) and given.isdigit() else given
    if not is_int(value) or value < minimum:
        raise InputError(f"server_options.{key}={given!r}: use an integer >= {minimum}")
    return value
