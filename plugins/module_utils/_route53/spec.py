# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The validated input of one switch or info query. Everything is checked here, before any call,
because the local emulator accepts almost anything and AWS's own errors come late."""

from __future__ import annotations

import ipaddress

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.records import (
    CLOUDFRONT_ZONE_ID,
    COLOUR_RE,
    DEFAULT_TTL,
    IDLE_RECORDS,
    MAX_TTL,
    MAX_WEIGHT,
    RECORD_TYPES,
    ROUTINGS,
    ZONE_ID_RE,
    alias_name_key,
    check_hostname,
    normalise_name,
    rrset_target_key,
    value_key,
    zone_id_key,
)


class Target:
    """One colour's target: an alias or a list of values."""

    def __init__(self, colour, dns_name=None, alias_zone_id=None, evaluate_target_health=False, values=None):
        self.colour = colour
        self.dns_name = dns_name
        self.alias_zone_id = alias_zone_id
        self.evaluate_target_health = evaluate_target_health
        self.values = values

    @property
    def is_alias(self) -> bool:
        return self.dns_name is not None

    @property
    def is_cloudfront(self) -> bool:
        return self.is_alias and self.alias_zone_id == CLOUDFRONT_ZONE_ID

    def key(self, record_type: str):
        """What identifies the answer this target gives (TTL not included)."""
        if self.is_alias:
            return ("alias", alias_name_key(self.dns_name), zone_id_key(self.alias_zone_id))
        return ("values", tuple(sorted(value_key(record_type, v) for v in self.values)))


def record_argument_spec() -> dict:
    """The options that find the record, shared by route53_switch and route53_switch_info."""
    return {
        "zone": {"type": "str"},
        "hosted_zone_id": {"type": "str"},
        "private_zone": {"type": "bool", "default": False},
        "record": {"type": "str", "required": True},
        "type": {"type": "str", "required": True, "choices": list(RECORD_TYPES)},
    }


# One of the two finds the zone.
ZONE_MUTUALLY_EXCLUSIVE = [["zone", "hosted_zone_id"]]
ZONE_REQUIRED_ONE_OF = [["zone", "hosted_zone_id"]]


def _check_value(record_type: str, value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: every value must be a non-empty string, got {value!r}")
    value = value.strip()
    if record_type == "A":
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise InputError(f"{where}: {value!r} is not an IPv4 address, which type A needs "
                             "(use type AAAA for IPv6, CNAME for a name)") from None
    if record_type == "AAAA":
        try:
            return ipaddress.IPv6Address(value).compressed
        except ValueError:
            raise InputError(f"{where}: {value!r} is not an IPv6 address, which type AAAA needs") from None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        raise InputError(f"{where}: {value!r} is an IP address; a CNAME points at a name (use type A or AAAA)")
    return check_hostname(value, where) + "."


def _parse_values(where: str, values, record_type: str) -> Target:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        raise InputError(f"{where}.values must be a non-empty list")
    checked = [_check_value(record_type, v, f"{where}.values") for v in values]
    keys = [value_key(record_type, v) for v in checked]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InputError(f"{where}.values lists {', '.join(duplicates)} more than once; Route53 rejects "
                         "duplicate values")
    if record_type == "CNAME" and len(checked) != 1:
        raise InputError(f"{where}.values: a CNAME has exactly one value, got {len(checked)}")
    return Target(where, values=checked)


def _parse_alias(where: str, alias, record: str) -> Target:
    if not isinstance(alias, dict):
        raise InputError(f"{where}.alias must be a dictionary with dns_name and hosted_zone_id")
    unknown = sorted(set(alias) - {"dns_name", "hosted_zone_id", "evaluate_target_health"})
    if unknown:
        raise InputError(f"{where}.alias has unknown keys {', '.join(unknown)}; "
                         "allowed: dns_name, hosted_zone_id, evaluate_target_health")
    for key in ("dns_name", "hosted_zone_id"):
        if not alias.get(key):
            raise InputError(f"{where}.alias.{key} is required (the {key.replace('_', ' ')} of the alias target)")
    dns_name = check_hostname(alias["dns_name"], f"{where}.alias.dns_name")
    if alias_name_key(dns_name) == normalise_name(record):
        raise InputError(f"{where}.alias.dns_name points at the record itself ({record}); "
                         "an alias needs another target")
    zone_id = zone_id_key(alias["hosted_zone_id"])
    if not ZONE_ID_RE.match(zone_id):
        raise InputError(f"{where}.alias.hosted_zone_id {alias['hosted_zone_id']!r} is not a hosted zone id "
                         "(like Z35SXDOTRQ7X7K, the canonical zone id of the load balancer or target)")
    try:
        evaluate = boolean(alias.get("evaluate_target_health", False), strict=True)
    except TypeError:
        raise InputError(f"{where}.alias.evaluate_target_health must be a boolean") from None
    if evaluate and zone_id == CLOUDFRONT_ZONE_ID:
        raise InputError(f"{where}.alias points at a CloudFront distribution (hosted zone {CLOUDFRONT_ZONE_ID}), "
                         "for which Route53 refuses evaluate_target_health: true; set it to false")
    # AWS keeps the alias name as sent apart from case; send it the way AWS returns it.
    return Target(where, dns_name=dns_name + ".", alias_zone_id=zone_id, evaluate_target_health=evaluate)


def parse_target(colour, raw, record_type: str, record: str) -> Target:
    where = f"targets.{colour}"
    if not isinstance(colour, str) or not COLOUR_RE.match(colour):
        raise InputError(f"targets: colour name {colour!r} must be 1-128 letters, digits, '_', '-' or '.' "
                         "(it becomes the SetIdentifier of the weighted record set)")
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a dictionary with either alias or values, got {raw!r}")
    unknown = sorted(set(raw) - {"alias", "values"})
    if unknown:
        raise InputError(f"{where} has unknown keys {', '.join(unknown)}; use either alias or values")
    has_alias = raw.get("alias") is not None
    if has_alias == (raw.get("values") is not None):
        raise InputError(f"{where} needs exactly one of alias (an AWS alias target) or values (a list of "
                         "addresses or one name)")
    if has_alias:
        target = _parse_alias(where, raw["alias"], record)
    else:
        target = _parse_values(where, raw["values"], record_type)
    target.colour = colour
    return target


def _weight(colour, value) -> int:
    if isinstance(value, bool) or value is None:
        raise InputError(f"weights.{colour} must be an integer 0-255, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise InputError(f"weights.{colour} must be an integer 0-255, got {value!r}")
    if not 0 <= value <= MAX_WEIGHT:
        raise InputError(f"weights.{colour} is {value}; Route53 weights are 0-255")
    return value


class Spec:
    """Validated, normalised input of one switch (or one info query)."""

    def __init__(self, params: dict, need_state: bool = True):
        self._parse_location(params)
        raw_targets = params.get("targets")
        self.targets: dict[str, Target] = {}
        if raw_targets is not None:
            if not isinstance(raw_targets, dict) or not raw_targets:
                raise InputError("targets must map each colour (for example blue, green) to its alias or values")
            for colour, raw in raw_targets.items():
                self.targets[colour] = parse_target(colour, raw, self.type, self.record)
            self._check_distinct()
        if not need_state:
            return
        self.routing = params.get("routing") or "weighted"
        if self.routing not in ROUTINGS:
            raise InputError(f"routing must be weighted or simple, got {self.routing!r}")
        if not self.targets:
            raise InputError("targets is required: map each colour to its alias or values")
        self.ttl = self._parse_ttl(params.get("ttl"))
        self.active = params.get("active")
        self.weights = self._parse_weights(params.get("weights"))
        self.wait = bool(params.get("wait", True))
        self.wait_timeout = params.get("wait_timeout", 300)
        if self.wait_timeout is None or self.wait_timeout < 1:
            raise InputError(f"wait_timeout must be at least 1 second, got {self.wait_timeout}")
        self.force = bool(params.get("force", False))
        self.retry_on_conflict = bool(params.get("retry_on_conflict", True))
        self.idle_record = params.get("idle_record") or "keep"
        if self.idle_record not in IDLE_RECORDS:
            raise InputError(f"idle_record must be keep or delete, got {self.idle_record!r}")

    def _parse_location(self, params: dict) -> None:
        self.zone = check_hostname(params["zone"], "zone") if params.get("zone") else None
        self.hosted_zone_id = None
        if params.get("hosted_zone_id"):
            self.hosted_zone_id = zone_id_key(params["hosted_zone_id"])
            if not ZONE_ID_RE.match(self.hosted_zone_id):
                raise InputError(f"hosted_zone_id {params['hosted_zone_id']!r} is not a hosted zone id "
                                 "(letters and digits, like Z0123456789ABCDEFGHIJ)")
        if not self.zone and not self.hosted_zone_id:
            raise InputError("give zone (the hosted zone's name) or hosted_zone_id")
        self.private_zone = bool(params.get("private_zone"))
        self.record = check_hostname(params["record"], "record", allow_wildcard=True)
        self.type = params["type"]
        if self.type not in RECORD_TYPES:
            raise InputError(f"type must be one of {', '.join(RECORD_TYPES)}, got {self.type!r}")
        if self.zone:
            self.check_in_zone(self.zone)

    def _parse_ttl(self, ttl):
        has_values = any(not t.is_alias for t in self.targets.values())
        if ttl is not None:
            if not has_values:
                raise InputError("ttl applies to values targets only; alias records take the TTL of their target "
                                 "(60 s for load balancers): remove ttl")
            if not 0 <= ttl <= MAX_TTL:
                raise InputError(f"ttl must be between 0 and {MAX_TTL} seconds, got {ttl}")
        if not has_values:
            return None
        return DEFAULT_TTL if ttl is None else ttl

    def _parse_weights(self, raw_weights):
        if self.active is not None and raw_weights is not None:
            raise InputError("give either active or weights, not both")
        if self.active is None and raw_weights is None:
            raise InputError("give active (the colour that takes all traffic) or weights")
        if self.active is not None and self.active not in self.targets:
            raise InputError(f"active is {self.active!r}, which is not a colour in targets "
                             f"({', '.join(self.targets)})")
        if raw_weights is None:
            return None
        if self.routing == "simple":
            raise InputError("routing=simple points the record at one colour: use active, not weights "
                             "(or routing=weighted)")
        if not isinstance(raw_weights, dict):
            raise InputError("weights must map each colour in targets to a weight 0-255")
        missing = [c for c in self.targets if c not in raw_weights]
        extra = [c for c in raw_weights if c not in self.targets]
        if missing or extra:
            raise InputError("weights must give a weight to exactly the colours in targets"
                             + (f"; missing: {', '.join(missing)}" if missing else "")
                             + (f"; not in targets: {', '.join(map(str, extra))}" if extra else ""))
        weights = {c: _weight(c, raw_weights[c]) for c in self.targets}
        if not any(weights.values()):
            raise InputError("all weights are 0: Route53 then spreads traffic over every colour; "
                             "give the colour that should serve a weight above 0")
        return weights

    def check_in_zone(self, zone_name: str) -> None:
        zone_name = normalise_name(zone_name)
        if self.record != zone_name and not self.record.endswith("." + zone_name):
            raise InputError(f"record {self.record} is outside zone {zone_name}; use a name ending in .{zone_name} "
                             "or the zone that holds the record")
        if self.type == "CNAME" and self.record == zone_name:
            raise InputError(f"a CNAME cannot be at the zone apex ({zone_name}); use type A or AAAA with an alias "
                             "target instead")

    def check_zone_kind(self, zone: dict) -> None:
        """Rules that depend on the zone found: CloudFront aliases are refused in private zones."""
        if zone.get("private"):
            cloudfront = [c for c, t in self.targets.items() if t.is_cloudfront]
            if cloudfront:
                raise InputError(f"targets.{cloudfront[0]} is an alias to a CloudFront distribution, which Route53 "
                                 f"refuses in a private hosted zone ({zone['name']}); use a public zone")

    def _check_distinct(self) -> None:
        seen = {}
        for colour, target in self.targets.items():
            key = target.key(self.type)
            if key in seen:
                raise InputError(f"targets.{seen[key]} and targets.{colour} give the same answer; a switch between "
                                 "them would change nothing: give each colour its own target")
            seen[key] = colour

    def colour_of(self, rrset: dict):
        """The colour whose target matches this record set's answer, or None."""
        key = rrset_target_key(self.type, rrset)
        for colour, target in self.targets.items():
            if target.key(self.type) == key:
                return colour
        return None
