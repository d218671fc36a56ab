# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Colours, pools and weights: the input every router validates the same way.

A colour is a name; ``pools`` maps colours to server addresses (host:port, [v6]:port or
unix:/path); traffic is either one ``active`` colour or ``weights`` per colour. Routers
differ only in their weight range, which they pass in. Errors are ``InputError`` naming
the option and the fix.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError

NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}\Z")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(r"^(?=.{1,253}\Z)" + _LABEL + r"(?:\." + _LABEL + r")*\Z")
# Characters that could end a directive, open/close a block, quote, start a comment or
# reference a variable in a load balancer's syntax. Patterns end in \Z: "$" would also match before a final newline.
UNSAFE_CHARS_RE = re.compile(r"[;{}'\"$#\\\s]|[^\x21-\x7e]")
UNIX_PATH_RE = re.compile(r"^/[A-Za-z0-9_./@+=,:-]+\Z")
# nginx's server weight range, the widest of the routers; the others pass their own.
WEIGHT_MAX = 1000


def validate_name(value, option):
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InputError(
            f"{option}={value!r} is not allowed: use 1-64 characters from A-Z, a-z, 0-9 and _"
        )
    return value


def validate_server(value, colour):
    """One server address: host:port, [v6]:port or unix:/path (nothing nginx could parse as syntax)."""
    where = f"pools.{colour}"
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: server {value!r} must be a non-empty string")
    if UNSAFE_CHARS_RE.search(value):
        raise InputError(
            f"{where}: server {value!r} contains characters that are not allowed in an address "
            "(whitespace, quotes, ; { } $ # \\ or non-ASCII)"
        )
    if value.startswith("unix:"):
        if not UNIX_PATH_RE.match(value[5:]):
            raise InputError(f"{where}: server {value!r}: write a unix socket as unix:/absolute/path")
        return value
    if value.startswith("["):
        match = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})\Z", value)
        if not match:
            raise InputError(f"{where}: server {value!r}: write an IPv6 server as [address]:port")
        try:
            ipaddress.IPv6Address(match.group(1))
        except ValueError:
            raise InputError(f"{where}: server {value!r}: {match.group(1)!r} is not an IPv6 address") from None
        port = match.group(2)
    else:
        host, sep, port = value.rpartition(":")
        if not sep or not host:
            raise InputError(f"{where}: server {value!r} needs a port: write host:port, [v6]:port or unix:/path")
        if not HOSTNAME_RE.match(host):
            raise InputError(f"{where}: server {value!r}: {host!r} is not a host name or IPv4 address")
        if not port.isdigit():
            raise InputError(f"{where}: server {value!r}: port {port!r} is not a number")
    if not 1 <= int(port) <= 65535:
        raise InputError(f"{where}: server {value!r}: port must be 1-65535")
    return value


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_pools(pools):
    if not isinstance(pools, dict) or len(pools) < 2:
        raise InputError(f"pools needs at least two colours (for example blue and green), got {pools!r}")
    seen = {}
    clean = {}
    for colour, servers in pools.items():
        validate_name(colour, "pools colour")
        if isinstance(servers, str) or not isinstance(servers, (list, tuple)) or not servers:
            raise InputError(f"pools.{colour} must be a non-empty list of servers")
        for server in servers:
            validate_server(server, colour)
            if server in seen:
                raise InputError(
                    f"server {server!r} is listed in pools.{seen[server]} and pools.{colour}: "
                    "each server belongs to one colour"
                )
            seen[server] = colour
        clean[colour] = list(servers)
    return clean


def validate_weights(weights, pools, maximum=WEIGHT_MAX, range_note=""):
    """Weights per colour, 0..maximum, at least one above 0; colours not given get 0.

    Each router passes its own maximum and a note naming its range.
    """
    if not isinstance(weights, dict) or not weights:
        raise InputError("weights must be a mapping colour -> integer")
    clean = {}
    for colour, given in weights.items():
        if colour not in pools:
            raise InputError(f"weights.{colour}: {colour!r} is not a colour in pools ({', '.join(sorted(pools))})")
        weight = int(given) if isinstance(given, str) and given.isdigit() else given
        if not is_int(weight) or not 0 <= weight <= maximum:
            raise InputError(f"weights.{colour}={given!r}: use an integer from 0 to {maximum}{range_note}")
        clean[colour] = weight
    for colour in pools:
        clean.setdefault(colour, 0)
    if not any(clean.values()):
        raise InputError("weights are all 0: at least one colour needs a weight above 0")
    return clean


def validate_traffic(pools, active, weights, maximum=WEIGHT_MAX, range_note=""):
    """The weights (None when one colour is active); each router passes its range like validate_weights."""
    if active is not None and weights is not None:
        raise InputError(
            "active and weights are mutually exclusive: give one colour in active, or a split in weights"
        )
    if active is None and weights is None:
        raise InputError("give either active (one colour) or weights (a split between colours)")
    if active is None:
        return validate_weights(weights, pools, maximum, range_note)
    validate_name(active, "active")
    if active not in pools:
        raise InputError("active={!r} is not a colour in pools ({})".format(active, ", ".join(sorted(pools))))
    return None
