# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Finding the hosted zone, reading the record's sets, and refusing names delegated to a child zone."""

from __future__ import annotations

import difflib

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import ClientError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import aws_error, error_code
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.records import (
    fqdn,
    normalise_name,
    zone_id_key,
)

# Route53 lists at most 300 record sets per page.
PAGE_SIZE = "300"
MAX_PAGES = 20


def zone_dict(zone: dict) -> dict:
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


def _zone_by_id(client, spec) -> dict:
    try:
        zone = zone_dict(client.get_hosted_zone(Id=spec.hosted_zone_id)["HostedZone"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchHostedZone":
            raise InputError(f"hosted_zone_id {spec.hosted_zone_id} was not found in this account; check the id "
                             "or give zone (its name) instead") from exc
        raise aws_error(exc, "route53", "GetHostedZone", "to look up hosted_zone_id") from exc
    if spec.zone and normalise_name(zone["name"]) != spec.zone:
        raise InputError(f"hosted_zone_id {spec.hosted_zone_id} is zone {zone['name']}, not {spec.zone}")
    return zone


def find_zone(client, spec) -> dict:
    if spec.hosted_zone_id:
        return _zone_by_id(client, spec)
    try:
        response = client.list_hosted_zones_by_name(DNSName=fqdn(spec.zone), MaxItems="100")
    except ClientError as exc:
        raise aws_error(exc, "route53", "ListHostedZonesByName",
                        "to find the zone by name; or give hosted_zone_id") from exc
    named = [z for z in response.get("HostedZones", []) if normalise_name(z["Name"]) == spec.zone]
    matching = [z for z in named if bool(z.get("Config", {}).get("PrivateZone")) == spec.private_zone]
    kind = "private" if spec.private_zone else "public"
    if len(matching) == 1:
        return zone_dict(matching[0])
    if len(matching) > 1:
        ids = ", ".join(zone_id_key(z["Id"]) for z in matching)
        raise InputError(f"there are {len(matching)} {kind} zones named {spec.zone} ({ids}); give hosted_zone_id")
    if named:
        other = "private" if not spec.private_zone else "public"
        ids = ", ".join(zone_id_key(z["Id"]) for z in named)
        raise InputError(f"no {kind} zone named {spec.zone}, but a {other} one exists ({ids}): set "
                         f"private_zone: {str(not spec.private_zone).lower()} or give hosted_zone_id")
    zones = _all_zone_names(client)
    names = sorted({normalise_name(z["Name"]) for z in zones})
    close = difflib.get_close_matches(spec.zone, names, n=3, cutoff=0.6)
    parents = [n for n in names if spec.record.endswith("." + n) or spec.record == n]
    hints = sorted(set(close + parents), key=lambda n: (n not in parents, n))
    hint = f"; zones with close names: {', '.join(hints)}" if hints else ""
    raise InputError(f"no {kind} hosted zone named {spec.zone} in this account{hint}")


def _list(client, kwargs: dict, purpose: str) -> dict:
    try:
        return client.list_resource_record_sets(**kwargs)
    except ClientError as exc:
        raise aws_error(exc, "route53", "ListResourceRecordSets", purpose) from exc


def read_record_sets(client, zone_id: str, record: str) -> list:
    """Every record set at the record's name, all types (one page in practice)."""
    found = {}
    kwargs = {"HostedZoneId": zone_id, "StartRecordName": fqdn(record), "MaxItems": PAGE_SIZE}
    for _page in range(MAX_PAGES):
        response = _list(client, kwargs, "to read the record")
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


def intermediate_names(record: str, zone_name: str) -> list:
    """Names strictly between the zone apex and the record (sub.example.com for api.sub.example.com)."""
    zone_name = normalise_name(zone_name)
    labels = record.split(".")
    zone_depth = len(zone_name.split("."))
    # Shallowest first: the first delegated name found is the child zone of this one.
    return [".".join(labels[i:]) for i in reversed(range(1, len(labels) - zone_depth))]


def check_not_delegated(client, zone: dict, record: str, sets_at_name: list) -> None:
    """Refuse a record at or below a name the zone delegates (NS records below the apex).

    Route53 accepts such a record in the parent zone and reports success, but resolvers follow
    the delegation to the child zone and never see it.
    """
    zone_name = normalise_name(zone["name"])
    delegated = None
    if record != zone_name and any(s.get("Type") == "NS" for s in sets_at_name):
        delegated = record
    for name in [] if delegated else intermediate_names(record, zone_name):
        response = _list(client, {"HostedZoneId": zone["id"], "StartRecordName": fqdn(name),
                                  "StartRecordType": "NS", "MaxItems": "10"}, "to check for delegated subzones")
        at_name = [s for s in response.get("ResourceRecordSets", []) if normalise_name(s.get("Name", "")) == name]
        if any(s.get("Type") == "NS" for s in at_name):
            delegated = name
            break
    if delegated:
        raise InputError(f"{delegated} is delegated to its own hosted zone (NS records in {zone_name}): a record "
                         f"{record} written in {zone_name} is never seen by resolvers. Use zone: {delegated} "
                         "(or its hosted_zone_id) instead; nothing was changed")
