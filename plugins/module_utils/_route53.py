# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Blue/green switching of one Route53 record: validation, normalisation, one ChangeBatch.

Plain Python over a boto3 Route53 client so that it can be tested with botocore's
Stubber and against a local emulator. Everything the user gives is validated here,
because the local emulator accepts almost anything and AWS's own errors come late.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws import (
    ClientError,
    WaiterError,
    describe_error,
    error_code,
)

RECORD_TYPES = ("A", "AAAA", "CNAME")
ROUTINGS = ("weighted", "simple")
DEFAULT_TTL = 60
# AWS answers alias records to ELB/S3/CloudFront with a fixed 60 s TTL.
ALIAS_TTL = 60
MAX_WEIGHT = 255
MAX_TTL = 2147483647
# Route53 lists at most 300 record sets per page.
PAGE_SIZE = "300"
MAX_PAGES = 20
ACTIVE_WEIGHT = 100

COLOUR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
ZONE_ID_RE = re.compile(r"^[A-Z0-9]{1,32}$")
OCTAL_ESCAPE_RE = re.compile(r"\\(\d{3})")
# Keys of a record set this module reads and writes; anything else is another routing
# policy (failover, latency, geo, multivalue, traffic policy) it must not touch.
MANAGED_KEYS = frozenset(("Name", "Type", "SetIdentifier", "Weight", "TTL", "ResourceRecords",
                          "AliasTarget", "HealthCheckId"))


class SwitchError(Exception):
    """A problem phrased for the user; nothing was changed unless `details` says so."""

    def __init__(self, msg: str, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


# --------------------------------------------------------------------------- names


def normalise_name(name: str) -> str:
    """Lowercase DNS name without trailing dot; Route53's octal escapes (\\052 = *) decoded."""
    name = OCTAL_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 8)), str(name).strip())
    return name.rstrip(".").lower()


def fqdn(name: str) -> str:
    return normalise_name(name) + "."


def check_hostname(name: str, option: str, allow_wildcard: bool = False) -> str:
    norm = normalise_name(name)
    if not norm:
        raise SwitchError(f"{option} must be a DNS name, got an empty value")
    if len(norm) > 253:
        raise SwitchError(f"{option} {name!r} is longer than 253 characters")
    labels = norm.split(".")
    for index, label in enumerate(labels):
        if label == "*" and allow_wildcard and index == 0:
            continue
        if not LABEL_RE.match(label):
            raise SwitchError(
                f"{option} {name!r} is not a valid DNS name: label {label!r} must be 1-63 letters, digits, "
                "'-' or '_' and not start or end with '-'"
                + (" (a wildcard '*' is allowed only as the first label)" if "*" in label else "")
            )
    return norm


def alias_name_key(dns_name: str) -> str:
    """Alias DNS name as compared: AWS lowercases it, adds a dot and sometimes `dualstack.`."""
    name = normalise_name(dns_name)
    return name[len("dualstack."):] if name.startswith("dualstack.") else name


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


# --------------------------------------------------------------------------- input


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

    def key(self, record_type: str):
        """What identifies the answer this target gives (TTL not included)."""
        if self.is_alias:
            return ("alias", alias_name_key(self.dns_name), zone_id_key(self.alias_zone_id))
        return ("values", tuple(sorted(value_key(record_type, v) for v in self.values)))


def _check_value(record_type: str, value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SwitchError(f"{where}: every value must be a non-empty string, got {value!r}")
    value = value.strip()
    if record_type == "A":
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise SwitchError(f"{where}: {value!r} is not an IPv4 address, which type A needs "
                              "(use type AAAA for IPv6, CNAME for a name)") from None
    if record_type == "AAAA":
        try:
            return ipaddress.IPv6Address(value).compressed
        except ValueError:
            raise SwitchError(f"{where}: {value!r} is not an IPv6 address, which type AAAA needs") from None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        raise SwitchError(f"{where}: {value!r} is an IP address; a CNAME points at a name (use type A or AAAA)")
    return check_hostname(value, where) + "."


def _parse_values(where: str, values, record_type: str) -> Target:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        raise SwitchError(f"{where}.values must be a non-empty list")
    checked = [_check_value(record_type, v, f"{where}.values") for v in values]
    keys = [value_key(record_type, v) for v in checked]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise SwitchError(f"{where}.values lists {', '.join(duplicates)} more than once; Route53 rejects "
                          "duplicate values")
    if record_type == "CNAME" and len(checked) != 1:
        raise SwitchError(f"{where}.values: a CNAME has exactly one value, got {len(checked)}")
    return Target(where, values=checked)


def _parse_alias(where: str, alias, record: str) -> Target:
    if not isinstance(alias, dict):
        raise SwitchError(f"{where}.alias must be a dictionary with dns_name and hosted_zone_id")
    unknown = sorted(set(alias) - {"dns_name", "hosted_zone_id", "evaluate_target_health"})
    if unknown:
        raise SwitchError(f"{where}.alias has unknown keys {', '.join(unknown)}; "
                          "allowed: dns_name, hosted_zone_id, evaluate_target_health")
    for key in ("dns_name", "hosted_zone_id"):
        if not alias.get(key):
            raise SwitchError(f"{where}.alias.{key} is required (the {key.replace('_', ' ')} of the alias target)")
    dns_name = check_hostname(alias["dns_name"], f"{where}.alias.dns_name")
    if alias_name_key(dns_name) == normalise_name(record):
        raise SwitchError(f"{where}.alias.dns_name points at the record itself ({record}); "
                          "an alias needs another target")
    zone_id = zone_id_key(alias["hosted_zone_id"])
    if not ZONE_ID_RE.match(zone_id):
        raise SwitchError(f"{where}.alias.hosted_zone_id {alias['hosted_zone_id']!r} is not a hosted zone id "
                          "(like Z35SXDOTRQ7X7K, the canonical zone id of the load balancer or target)")
    try:
        evaluate = boolean(alias.get("evaluate_target_health", False), strict=True)
    except TypeError:
        raise SwitchError(f"{where}.alias.evaluate_target_health must be a boolean") from None
    return Target(where, dns_name=dns_name + ".", alias_zone_id=zone_id, evaluate_target_health=evaluate)


def parse_target(colour, raw, record_type: str, record: str) -> Target:
    where = f"targets.{colour}"
    if not isinstance(colour, str) or not COLOUR_RE.match(colour):
        raise SwitchError(f"targets: colour name {colour!r} must be 1-128 letters, digits, '_', '-' or '.' "
                          "(it becomes the SetIdentifier of the weighted record set)")
    if not isinstance(raw, dict):
        raise SwitchError(f"{where} must be a dictionary with either alias or values, got {raw!r}")
    unknown = sorted(set(raw) - {"alias", "values"})
    if unknown:
        raise SwitchError(f"{where} has unknown keys {', '.join(unknown)}; use either alias or values")
    has_alias = raw.get("alias") is not None
    if has_alias == (raw.get("values") is not None):
        raise SwitchError(f"{where} needs exactly one of alias (an AWS alias target) or values (a list of "
                          "addresses or one name)")
    if has_alias:
        target = _parse_alias(where, raw["alias"], record)
    else:
        target = _parse_values(where, raw["values"], record_type)
    target.colour = colour
    return target


def _weight(colour, value) -> int:
    if isinstance(value, bool) or value is None:
        raise SwitchError(f"weights.{colour} must be an integer 0-255, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise SwitchError(f"weights.{colour} must be an integer 0-255, got {value!r}")
    if not 0 <= value <= MAX_WEIGHT:
        raise SwitchError(f"weights.{colour} is {value}; Route53 weights are 0-255")
    return value


class Spec:
    """Validated, normalised input of one switch (or one info query)."""

    def __init__(self, params: dict, need_state: bool = True):
        self._parse_location(params)
        raw_targets = params.get("targets")
        self.targets: dict[str, Target] = {}
        if raw_targets is not None:
            if not isinstance(raw_targets, dict) or not raw_targets:
                raise SwitchError("targets must map each colour (for example blue, green) to its alias or values")
            for colour, raw in raw_targets.items():
                self.targets[colour] = parse_target(colour, raw, self.type, self.record)
            self._check_distinct()
        if not need_state:
            return
        self.routing = params.get("routing") or "weighted"
        if self.routing not in ROUTINGS:
            raise SwitchError(f"routing must be weighted or simple, got {self.routing!r}")
        if not self.targets:
            raise SwitchError("targets is required: map each colour to its alias or values")
        self.ttl = self._parse_ttl(params.get("ttl"))
        self.active = params.get("active")
        self.weights = self._parse_weights(params.get("weights"))
        self.wait = bool(params.get("wait", True))
        self.wait_timeout = params.get("wait_timeout", 300)
        if self.wait_timeout is None or self.wait_timeout < 1:
            raise SwitchError(f"wait_timeout must be at least 1 second, got {self.wait_timeout}")

    def _parse_location(self, params: dict) -> None:
        self.zone = check_hostname(params["zone"], "zone") if params.get("zone") else None
        self.hosted_zone_id = None
        if params.get("hosted_zone_id"):
            self.hosted_zone_id = zone_id_key(params["hosted_zone_id"])
            if not ZONE_ID_RE.match(self.hosted_zone_id):
                raise SwitchError(f"hosted_zone_id {params['hosted_zone_id']!r} is not a hosted zone id "
                                  "(letters and digits, like Z0123456789ABCDEFGHIJ)")
        if not self.zone and not self.hosted_zone_id:
            raise SwitchError("give zone (the hosted zone's name) or hosted_zone_id")
        self.private_zone = bool(params.get("private_zone"))
        self.record = check_hostname(params["record"], "record", allow_wildcard=True)
        self.type = params["type"]
        if self.type not in RECORD_TYPES:
            raise SwitchError(f"type must be one of {', '.join(RECORD_TYPES)}, got {self.type!r}")
        if self.zone:
            self.check_in_zone(self.zone)

    def _parse_ttl(self, ttl):
        has_values = any(not t.is_alias for t in self.targets.values())
        if ttl is not None:
            if not has_values:
                raise SwitchError("ttl applies to values targets only; alias records take the TTL of their target "
                                  "(60 s for load balancers): remove ttl")
            if not 0 <= ttl <= MAX_TTL:
                raise SwitchError(f"ttl must be between 0 and {MAX_TTL} seconds, got {ttl}")
        if not has_values:
            return None
        return DEFAULT_TTL if ttl is None else ttl

    def _parse_weights(self, raw_weights):
        if self.active is not None and raw_weights is not None:
            raise SwitchError("give either active or weights, not both")
        if self.active is None and raw_weights is None:
            raise SwitchError("give active (the colour that takes all traffic) or weights")
        if self.active is not None and self.active not in self.targets:
            raise SwitchError(f"active is {self.active!r}, which is not a colour in targets "
                              f"({', '.join(self.targets)})")
        if raw_weights is None:
            return None
        if self.routing == "simple":
            raise SwitchError("routing=simple points the record at one colour: use active, not weights "
                              "(or routing=weighted)")
        if not isinstance(raw_weights, dict):
            raise SwitchError("weights must map each colour in targets to a weight 0-255")
        missing = [c for c in self.targets if c not in raw_weights]
        extra = [c for c in raw_weights if c not in self.targets]
        if missing or extra:
            raise SwitchError("weights must give a weight to exactly the colours in targets"
                              + (f"; missing: {', '.join(missing)}" if missing else "")
                              + (f"; not in targets: {', '.join(map(str, extra))}" if extra else ""))
        weights = {c: _weight(c, raw_weights[c]) for c in self.targets}
        if not any(weights.values()):
            raise SwitchError("all weights are 0: Route53 then spreads traffic over every colour; "
                              "give the colour that should serve a weight above 0")
        return weights

    def check_in_zone(self, zone_name: str) -> None:
        zone_name = normalise_name(zone_name)
        if self.record != zone_name and not self.record.endswith("." + zone_name):
            raise SwitchError(f"record {self.record} is outside zone {zone_name}; use a name ending in .{zone_name} "
                              "or the zone that holds the record")
        if self.type == "CNAME" and self.record == zone_name:
            raise SwitchError(f"a CNAME cannot be at the zone apex ({zone_name}); use type A or AAAA with an alias "
                              "target instead")

    def _check_distinct(self) -> None:
        seen = {}
        for colour, target in self.targets.items():
            key = target.key(self.type)
            if key in seen:
                raise SwitchError(f"targets.{seen[key]} and targets.{colour} give the same answer; a switch between "
                                  "them would change nothing: give each colour its own target")
            seen[key] = colour

    def colour_of(self, rrset: dict):
        """The colour whose target matches this record set's answer, or None."""
        key = rrset_target_key(self.type, rrset)
        for colour, target in self.targets.items():
            if target.key(self.type) == key:
                return colour
        return None


# --------------------------------------------------------------------------- record sets


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


def _sorted_sets(sets):
    return sorted(sets, key=lambda s: (s.get("SetIdentifier") or ""))


def build_rrset(spec: Spec, colour: str, weight=None, health_check_id=None) -> dict:
    target = spec.targets[colour]
    rrset = {"Name": fqdn(spec.record), "Type": spec.type}
    if weight is not None:
        rrset["SetIdentifier"] = colour
        rrset["Weight"] = weight
    if target.is_alias:
        rrset["AliasTarget"] = {
            "HostedZoneId": target.alias_zone_id,
            "DNSName": target.dns_name,
            "EvaluateTargetHealth": target.evaluate_target_health,
        }
    else:
        rrset["TTL"] = spec.ttl
        rrset["ResourceRecords"] = [{"Value": v} for v in target.values]
    if health_check_id:
        rrset["HealthCheckId"] = health_check_id
    return rrset


class State:
    """What Route53 holds for the record's name and type."""

    def __init__(self, routing, sets, weights=None, active=None, problem=None):
        self.routing = routing  # weighted, simple, absent, or unmanaged (info only)
        self.sets = sets
        self.weights = weights
        self.active = active
        self.problem = problem


def sole_active(weights):
    if not weights:
        return None
    live = [c for c, w in weights.items() if w]
    return live[0] if len(live) == 1 else None


def classify(spec: Spec, sets_at_name: list, strict: bool = True) -> State:
    """Read the current shape; raise (strict) or report (info) shapes this module does not manage."""
    same_type = _sorted_sets([s for s in sets_at_name if s.get("Type") == spec.type])
    other_types = sorted({s.get("Type") for s in sets_at_name if s.get("Type") != spec.type})
    problem = None
    if spec.type == "CNAME" and other_types:
        problem = (f"{spec.record} already has {', '.join(other_types)} records; a CNAME cannot share its name with "
                   "other records: delete them first or switch with their type instead of CNAME")
    elif spec.type != "CNAME" and "CNAME" in other_types:
        problem = (f"{spec.record} is a CNAME record, and this switch manages type {spec.type}: delete the CNAME "
                   "first or set type: CNAME")
    weighted = [s for s in same_type if "SetIdentifier" in s]
    simple = [s for s in same_type if "SetIdentifier" not in s]
    for rrset in same_type:
        foreign = sorted(set(rrset) - MANAGED_KEYS)
        if foreign or ("SetIdentifier" in rrset and "Weight" not in rrset):
            what = ", ".join(foreign) or "a routing policy other than weighted"
            problem = problem or (
                f"record set {spec.record} {spec.type} (SetIdentifier {rrset.get('SetIdentifier')}) uses {what}, "
                "which route53_switch does not manage; convert or delete it first")
    if weighted and simple and not problem:
        problem = (f"{spec.record} {spec.type} has both a simple and weighted record sets, which Route53 itself does "
                   "not allow; delete one kind first")
    if not problem and spec.targets:
        strangers = [s["SetIdentifier"] for s in weighted if s["SetIdentifier"] not in spec.targets]
        if strangers:
            problem = (f"{spec.record} {spec.type} has weighted record sets with SetIdentifier "
                       f"{', '.join(strangers)}, which are not colours in targets ({', '.join(spec.targets)}); "
                       "add them to targets or delete those record sets first")
    if problem:
        if strict:
            raise SwitchError(problem, record_sets_before=[rrset_view(s) for s in same_type])
        return State("unmanaged", same_type, problem=problem)
    if weighted:
        weights = {s["SetIdentifier"]: s["Weight"] for s in weighted}
        return State("weighted", weighted, weights=weights, active=sole_active(weights))
    if simple:
        return State("simple", simple, active=spec.colour_of(simple[0]) if spec.targets else None)
    return State("absent", [])


def desired_weights(spec: Spec, state: State) -> dict:
    if spec.weights is not None:
        return dict(spec.weights)
    if state.routing == "weighted" and state.active == spec.active:
        # Already all traffic on the active colour: keep its weight, whatever non-zero value it has.
        return {c: (state.weights[c] if c == spec.active else 0) for c in spec.targets}
    return {c: (ACTIVE_WEIGHT if c == spec.active else 0) for c in spec.targets}


def plan(spec: Spec, state: State):
    """The record sets wanted and the changes that get there, all for one ChangeBatch."""
    existing = {s.get("SetIdentifier"): s for s in state.sets}
    if spec.routing == "weighted":
        weights = desired_weights(spec, state)
        desired = [
            build_rrset(spec, colour, weights[colour],
                        existing.get(colour, {}).get("HealthCheckId") if state.routing == "weighted" else None)
            for colour in spec.targets
        ]
    else:
        weights = None
        keep_check = existing.get(None, {}).get("HealthCheckId") if state.routing == "simple" else None
        desired = [build_rrset(spec, spec.active, None, keep_check)]
    changes = []
    if state.routing in ("absent", spec.routing):
        for rrset in desired:
            current = existing.get(rrset.get("SetIdentifier"))
            if current is None or rrset_key(current) != rrset_key(rrset):
                changes.append({"Action": "UPSERT", "ResourceRecordSet": rrset})
    else:
        # simple <-> weighted: delete the old sets (with their exact current values, as Route53
        # requires) and write the new ones in the same batch, so there is no gap in between.
        changes = [{"Action": "DELETE", "ResourceRecordSet": s} for s in state.sets]
        changes += [{"Action": "UPSERT", "ResourceRecordSet": s} for s in desired]
    return _sorted_sets(desired), weights, changes


# --------------------------------------------------------------------------- AWS calls


def _fail(exc, operation: str, purpose: str | None = None, **details):
    raise SwitchError(describe_error(exc, "route53", operation, purpose), **details) from exc


def _zone_dict(zone: dict) -> dict:
    return {
        "id": zone_id_key(zone["Id"]),
        "name": fqdn(zone["Name"]),
        "private": bool(zone.get("Config", {}).get("PrivateZone")),
    }


def _all_zone_names(client):
    names = []
    try:
        for page in client.get_paginator("list_hosted_zones").paginate(PaginationConfig={"MaxItems": 1000}):
            names.extend(z for z in page.get("HostedZones", []))
    except ClientError:
        return []
    return names


def find_zone(client, spec: Spec) -> dict:
    if spec.hosted_zone_id:
        try:
            zone = _zone_dict(client.get_hosted_zone(Id=spec.hosted_zone_id)["HostedZone"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchHostedZone":
                raise SwitchError(f"hosted_zone_id {spec.hosted_zone_id} was not found in this account; check the id "
                                  "or give zone (its name) instead") from exc
            _fail(exc, "GetHostedZone", "to look up hosted_zone_id")
        if spec.zone and normalise_name(zone["name"]) != spec.zone:
            raise SwitchError(f"hosted_zone_id {spec.hosted_zone_id} is zone {zone['name']}, not {spec.zone}")
        return zone
    try:
        response = client.list_hosted_zones_by_name(DNSName=fqdn(spec.zone), MaxItems="100")
    except ClientError as exc:
        _fail(exc, "ListHostedZonesByName", "to find the zone by name; or give hosted_zone_id")
    named = [z for z in response.get("HostedZones", []) if normalise_name(z["Name"]) == spec.zone]
    matching = [z for z in named if bool(z.get("Config", {}).get("PrivateZone")) == spec.private_zone]
    kind = "private" if spec.private_zone else "public"
    if len(matching) == 1:
        return _zone_dict(matching[0])
    if len(matching) > 1:
        ids = ", ".join(zone_id_key(z["Id"]) for z in matching)
        raise SwitchError(f"there are {len(matching)} {kind} zones named {spec.zone} ({ids}); give hosted_zone_id")
    if named:
        other = "private" if not spec.private_zone else "public"
        ids = ", ".join(zone_id_key(z["Id"]) for z in named)
        raise SwitchError(f"no {kind} zone named {spec.zone}, but a {other} one exists ({ids}): set "
                          f"private_zone: {str(not spec.private_zone).lower()} or give hosted_zone_id")
    zones = _all_zone_names(client)
    names = sorted({normalise_name(z["Name"]) for z in zones})
    close = difflib.get_close_matches(spec.zone, names, n=3, cutoff=0.6)
    parents = [n for n in names if spec.record.endswith("." + n) or spec.record == n]
    hints = sorted(set(close + parents), key=lambda n: (n not in parents, n))
    hint = f"; zones with close names: {', '.join(hints)}" if hints else ""
    raise SwitchError(f"no {kind} hosted zone named {spec.zone} in this account{hint}")


def read_record_sets(client, zone_id: str, record: str) -> list:
    """Every record set at the record's name, all types (one page in practice)."""
    found = {}
    kwargs = {"HostedZoneId": zone_id, "StartRecordName": fqdn(record), "MaxItems": PAGE_SIZE}
    for _page in range(MAX_PAGES):
        try:
            response = client.list_resource_record_sets(**kwargs)
        except ClientError as exc:
            _fail(exc, "ListResourceRecordSets", "to read the record")
        past = False
        for rrset in response.get("ResourceRecordSets", []):
            if normalise_name(rrset.get("Name", "")) == record:
                found[(rrset.get("Type"), rrset.get("SetIdentifier"))] = rrset
            else:
                past = True
        if past or not response.get("IsTruncated") or normalise_name(response.get("NextRecordName", "")) != record:
            break
        following = {"StartRecordName": response["NextRecordName"], "StartRecordType": response.get("NextRecordType")}
        if response.get("NextRecordIdentifier"):
            following["StartRecordIdentifier"] = response["NextRecordIdentifier"]
        following = {k: v for k, v in following.items() if v}
        if all(kwargs.get(k) == v for k, v in following.items()):
            break  # an emulator that ignores the page token would repeat this page forever
        kwargs.update(following)
    return list(found.values())


def submit(client, zone_id: str, changes: list, comment: str) -> dict:
    try:
        response = client.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Comment": comment, "Changes": changes})
    except ClientError as exc:
        if error_code(exc) in ("InvalidChangeBatch", "InvalidInput"):
            raise SwitchError("Route53 rejected the change batch and applied none of it (a batch is all or "
                              f"nothing): {exc.response['Error'].get('Message')}") from exc
        _fail(exc, "ChangeResourceRecordSets", "to change the record")
    return response["ChangeInfo"]


def waiter_timing(wait_timeout: float, delay: float | None = None):
    """Delay between GetChange polls and the attempts that fit in wait_timeout."""
    if delay is None:
        delay = min(10, max(1, int(wait_timeout // 30)))
    attempts = max(1, int(wait_timeout // delay)) + 1
    return delay, attempts


def wait_insync(client, change_id: str, wait_timeout: float, delay: float | None = None) -> None:
    delay, attempts = waiter_timing(wait_timeout, delay)
    waiter = client.get_waiter("resource_record_sets_changed")
    try:
        waiter.wait(Id=change_id, WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
    except WaiterError as exc:
        if "Max attempts exceeded" in str(exc):
            raise SwitchError(
                f"change {change_id} was accepted by Route53 (it applies atomically) but was still PENDING after "
                f"wait_timeout={wait_timeout} s; raise wait_timeout or check it later with GetChange",
                status="PENDING") from exc
        # The batch is already in: say so, or the operator may think nothing happened and retry blindly.
        raise SwitchError(
            f"change {change_id} was submitted and accepted by Route53, which applies it atomically whether or not "
            "this run waits; waiting for it failed: "
            + describe_error(exc, "route53", "GetChange", "for wait: true; or set wait: false"),
            status="PENDING") from exc


# --------------------------------------------------------------------------- entry points


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(moment) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _old_ttl(sets: list) -> int:
    return max((ALIAS_TTL if s.get("AliasTarget") else int(s.get("TTL") or 0) for s in sets), default=0)


def switch(client, params: dict, check_mode: bool = False, wait_delay: float | None = None) -> dict:
    """Do (or predict) one switch; returns the module result. Raises SwitchError."""
    spec = Spec(params)
    zone = find_zone(client, spec)
    spec.check_in_zone(zone["name"])
    sets_at_name = read_record_sets(client, zone["id"], spec.record)
    state = classify(spec, sets_at_name)
    desired, weights, changes = plan(spec, state)
    before = [rrset_view(s) for s in state.sets]
    after = [rrset_view(s) for s in desired] if changes else before
    result = {
        "changed": bool(changes),
        "zone": zone,
        "record": fqdn(spec.record),
        "type": spec.type,
        "routing": spec.routing,
        "previous_routing": state.routing,
        "active": sole_active(weights) if spec.routing == "weighted" else spec.active,
        "previous_active": state.active,
        "weights": weights,
        "previous_weights": state.weights,
        "change_id": None,
        "status": None,
        "submitted_at": None,
        "record_sets_before": before,
        "record_sets_after": after,
        "change_batch": {"Comment": _comment(spec, weights), "Changes": changes},
        "diff": {
            "before_header": f"{fqdn(spec.record)} {spec.type} ({state.routing})",
            "after_header": f"{fqdn(spec.record)} {spec.type} ({spec.routing})",
            "before": {"record_sets": before},
            "after": {"record_sets": after},
        },
    }
    ttl = _old_ttl(state.sets) if changes else 0
    result["propagation"] = {"ttl": ttl, "based_on": "unchanged" if not changes else "check_mode",
                             "settled_at": None}
    if not changes or check_mode:
        return result
    info = submit(client, zone["id"], changes, result["change_batch"]["Comment"])
    result["change_id"] = zone_id_key(info["Id"].replace("/change/", ""))
    result["status"] = info.get("Status")
    result["submitted_at"] = _iso(info.get("SubmittedAt"))
    base, based_on = info.get("SubmittedAt") or _now(), "submitted"
    if spec.wait and result["status"] != "INSYNC":
        try:
            wait_insync(client, result["change_id"], spec.wait_timeout, wait_delay)
        except SwitchError as exc:
            exc.details.update({k: v for k, v in result.items() if k not in exc.details})
            exc.details["changed"] = True
            raise
        result["status"] = "INSYNC"
        base, based_on = _now(), "insync"
    elif result["status"] == "INSYNC":
        based_on = "insync"
    if isinstance(base, str):
        base = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    elif base.tzinfo is None:
        base = base.replace(tzinfo=datetime.timezone.utc)
    result["propagation"] = {"ttl": ttl, "based_on": based_on,
                             "settled_at": _iso(base + datetime.timedelta(seconds=ttl))}
    return result


def _comment(spec: Spec, weights) -> str:
    if weights is None:
        return f"switchyard.bluegreen.route53_switch: {spec.record} {spec.type} simple -> {spec.active}"
    shares = ", ".join(f"{c}={w}" for c, w in weights.items())
    return f"switchyard.bluegreen.route53_switch: {spec.record} {spec.type} weighted {shares}"


def info(client, params: dict) -> dict:
    """Current state of the record; never changes anything. Raises SwitchError."""
    spec = Spec(params, need_state=False)
    zone = find_zone(client, spec)
    spec.check_in_zone(zone["name"])
    state = classify(spec, read_record_sets(client, zone["id"], spec.record), strict=False)
    return {
        "changed": False,
        "zone": zone,
        "record": fqdn(spec.record),
        "type": spec.type,
        "routing": state.routing,
        "managed": state.problem is None,
        "problem": state.problem,
        "active": state.active,
        "weights": state.weights,
        "colours": sorted(state.weights) if state.weights else ([state.active] if state.active else []),
        "record_sets": [rrset_view(s) for s in state.sets],
    }
