# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Names, values and record sets of Route53, normalised only as far as Route53 itself does."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError

RECORD_TYPES = ("A", "AAAA", "CNAME")
ROUTINGS = ("weighted", "simple")
IDLE_RECORDS = ("keep", "delete")
DEFAULT_TTL = 60
# AWS answers alias records to ELB/S3/CloudFront with a fixed 60 s TTL.
ALIAS_TTL = 60
MAX_WEIGHT = 255
MAX_TTL = 2147483647
ACTIVE_WEIGHT = 100
# The hosted zone id every CloudFront distribution alias uses (Route53 API reference, AliasTarget).
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
# ChangeBatch.Comment: "Maximum length of 256" (Route53 API reference, ChangeBatch).
MAX_COMMENT = 256

COLOUR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
ZONE_ID_RE = re.compile(r"^[A-Z0-9]{1,32}$")
# Route53 writes characters outside a-z0-9-_. as a backslash and three octal digits (\052 = *).
ESCAPE_RE = re.compile(r"\\(.{0,3})")
# Keys of a record set this module reads and writes; anything else is another routing
# policy (failover, latency, geo, multivalue, traffic policy) it must not touch.
MANAGED_KEYS = frozenset(("Name", "Type", "SetIdentifier", "Weight", "TTL", "ResourceRecords",
                          "AliasTarget", "HealthCheckId"))


# --------------------------------------------------------------------------- names


def _unescape(match) -> str:
    digits = match.group(1)
    if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256:
        return chr(int(digits, 8))
    raise InputError(f"\\{digits} is not a Route53 octal escape: Route53 writes a special character as a "
                     "backslash and three octal digits 000-377 (\\052 is '*'); write the name without it or "
                     "with a valid escape")


def normalise_name(name: str) -> str:
    """Lowercase DNS name without trailing dot; Route53's octal escapes (\\052 = *) decoded."""
    name = ESCAPE_RE.sub(_unescape, str(name).strip())
    return name.rstrip(".").lower()


def fqdn(name: str) -> str:
    return normalise_name(name) + "."


def _punycode_hint(name: str) -> str:
    if all(ord(c) < 128 for c in name):
        return ""
    try:
        encoded = ".".join(label.encode("idna").decode("ascii") if label else "" for label in name.split("."))
    except UnicodeError:
        return " (it has non-ASCII characters that IDNA cannot encode)"
    return f"; Route53 stores internationalised names in punycode: use {encoded!r}"


def check_hostname(name: str, option: str, allow_wildcard: bool = False) -> str:
    norm = normalise_name(name)
    if not norm:
        raise InputError(f"{option} must be a DNS name, got an empty value")
    if len(norm) > 253:
        raise InputError(f"{option} {name!r} is longer than 253 characters")
    labels = norm.split(".")
    for index, label in enumerate(labels):
        if label == "*" and allow_wildcard and index == 0:
            continue
        if not LABEL_RE.match(label):
            raise InputError(
                f"{option} {name!r} is not a valid DNS name: label {label!r} must be 1-63 letters, digits, "
                "'-' or '_' and not start or end with '-'"
                + (" (a wildcard '*' is allowed only as the first label)" if "*" in label else "")
                + _punycode_hint(norm)
            )
    return norm


def alias_name_key(dns_name: str) -> str:
    """Alias DNS name as Route53 compares it: case and the trailing dot only.

    AWS stores the name as sent; ``dualstack.`` is part of the name (an AAAA alias to a
    load balancer needs it), so it is not stripped.
    """
    return normalise_name(dns_name)


def zone_id_key(zone_id: str) -> str:
    value = str(zone_id).strip()
    if value.lower().startswith("/hostedzone/"):
        value = value[len("/hostedzone/"):]
    return value.upper()


def value_key(record_type: str, value: str) -> str:
    value = str(value).strip()
    try:
        if record_type == "A":
            return str(ipaddress.IPv4Address(value))
        if record_type == "AAAA":
            return ipaddress.IPv6Address(value).compressed
    except ValueError:
        return value.lower()
    return normalise_name(value)


# --------------------------------------------------------------------------- record sets


def has_health_evaluation(rrset: dict) -> bool:
    """Whether Route53 can consider this record set unhealthy (a health check or alias target health)."""
    alias = rrset.get("AliasTarget") or {}
    return bool(rrset.get("HealthCheckId") or alias.get("EvaluateTargetHealth"))


def rrset_target_key(record_type: str, rrset: dict):
    alias = rrset.get("AliasTarget")
    if alias:
        return ("alias", alias_name_key(alias.get("DNSName", "")), zone_id_key(alias.get("HostedZoneId", "")))
    records = rrset.get("ResourceRecords") or []
    return ("values", tuple(sorted(value_key(record_type, r.get("Value", "")) for r in records)))


def rrset_key(rrset: dict):
    """Everything that matters of a record set, normalised, for the idempotency check."""
    alias = rrset.get("AliasTarget")
    return (
        normalise_name(rrset.get("Name", "")),
        rrset.get("Type"),
        rrset.get("SetIdentifier"),
        rrset.get("Weight"),
        None if alias else rrset.get("TTL"),
        bool(alias.get("EvaluateTargetHealth")) if alias else None,
        rrset.get("HealthCheckId"),
        rrset_target_key(rrset.get("Type"), rrset),
    )


def rrset_view(rrset: dict) -> dict:
    """A record set as returned to the user (snake_case)."""
    alias = rrset.get("AliasTarget")
    return {
        "name": fqdn(rrset.get("Name", "")),
        "type": rrset.get("Type"),
        "set_identifier": rrset.get("SetIdentifier"),
        "weight": rrset.get("Weight"),
        "ttl": None if alias else rrset.get("TTL"),
        "values": None if alias else [r.get("Value") for r in rrset.get("ResourceRecords") or []],
        "alias": {
            "dns_name": alias.get("DNSName"),
            "hosted_zone_id": alias.get("HostedZoneId"),
            "evaluate_target_health": bool(alias.get("EvaluateTargetHealth")),
        } if alias else None,
        "health_check_id": rrset.get("HealthCheckId"),
    }


def sorted_sets(sets):
    return sorted(sets, key=lambda s: (s.get("SetIdentifier") or ""))


def same_sets(left: list, right: list) -> bool:
    return sorted(map(repr, map(rrset_key, left))) == sorted(map(repr, map(rrset_key, right)))
