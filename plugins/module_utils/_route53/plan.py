# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The record's current shape, the record sets wanted, and the guarded change batch between them.

Every change batch is guarded (optimistic concurrency): it DELETEs every current record set of
the record exactly as read and CREATEs every wanted one, unchanged sets included. Route53 refuses
a DELETE whose values differ from the live set and a CREATE of a set that exists, and applies a
batch all or nothing, so a run that planned from data another run has changed since fails as a
whole (InvalidChangeBatch) instead of writing a mix of both runs (all weights 0, for example).
"""

from __future__ import annotations

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError, SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.records import (
    ACTIVE_WEIGHT,
    MANAGED_KEYS,
    fqdn,
    has_health_evaluation,
    rrset_view,
    same_sets,
    sorted_sets,
)


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


def _shape_problem(spec, same_type: list, other_types: list):
    if spec.type == "CNAME" and other_types:
        return (f"{spec.record} already has {', '.join(other_types)} records; a CNAME cannot share its name with "
                "other records: delete them first or switch with their type instead of CNAME")
    if spec.type != "CNAME" and "CNAME" in other_types:
        return (f"{spec.record} is a CNAME record, and this switch manages type {spec.type}: delete the CNAME "
                "first or set type: CNAME")
    for rrset in same_type:
        foreign = sorted(set(rrset) - MANAGED_KEYS)
        if foreign or ("SetIdentifier" in rrset and "Weight" not in rrset):
            what = ", ".join(foreign) or "a routing policy other than weighted"
            return (f"record set {spec.record} {spec.type} (SetIdentifier {rrset.get('SetIdentifier')}) uses {what}, "
                    "which route53_switch does not manage; convert or delete it first")
    weighted = [s for s in same_type if "SetIdentifier" in s]
    if weighted and len(weighted) != len(same_type):
        return (f"{spec.record} {spec.type} has both a simple and weighted record sets, which Route53 itself does "
                "not allow; delete one kind first")
    if spec.targets:
        strangers = [s["SetIdentifier"] for s in weighted if s["SetIdentifier"] not in spec.targets]
        if strangers:
            return (f"{spec.record} {spec.type} has weighted record sets with SetIdentifier "
                    f"{', '.join(strangers)}, which are not colours in targets ({', '.join(spec.targets)}); "
                    "add them to targets or delete those record sets first")
    return None


def classify(spec, sets_at_name: list, strict: bool = True) -> State:
    """Read the current shape; raise (strict) or report (info) shapes this module does not manage."""
    same_type = sorted_sets([s for s in sets_at_name if s.get("Type") == spec.type])
    other_types = sorted({s.get("Type") for s in sets_at_name if s.get("Type") != spec.type})
    problem = _shape_problem(spec, same_type, other_types)
    if problem:
        if strict:
            raise SwitchError(problem + "; nothing was changed",
                              record_sets_before=[rrset_view(s) for s in same_type])
        return State("unmanaged", same_type, problem=problem)
    weighted = [s for s in same_type if "SetIdentifier" in s]
    if weighted:
        weights = {s["SetIdentifier"]: s["Weight"] for s in weighted}
        return State("weighted", weighted, weights=weights, active=sole_active(weights))
    if same_type:
        return State("simple", same_type, active=spec.colour_of(same_type[0]) if spec.targets else None)
    return State("absent", [])


def desired_weights(spec, state: State) -> dict:
    if spec.weights is not None:
        return dict(spec.weights)
    if state.routing == "weighted" and state.active == spec.active:
        # Already all traffic on the active colour: keep its weight, whatever non-zero value it has.
        return {c: (state.weights[c] if c == spec.active else 0) for c in spec.targets}
    return {c: (ACTIVE_WEIGHT if c == spec.active else 0) for c in spec.targets}


def build_rrset(spec, colour: str, weight=None, health_check_id=None) -> dict:
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


def health_checks_by_colour(spec, state: State) -> dict:
    """The HealthCheckId each colour keeps, across a conversion too (the docs promise it is kept)."""
    if state.routing == "weighted":
        return {s["SetIdentifier"]: s.get("HealthCheckId") for s in state.sets}
    if state.routing == "simple" and state.active is not None:
        return {state.active: state.sets[0].get("HealthCheckId")}
    return {}


def check_conversion(spec, state: State) -> None:
    """A simple record whose answer is no colour of targets is refused unless force (it would be deleted)."""
    if state.routing != "simple" or state.active is not None or spec.force:
        return
    view = rrset_view(state.sets[0])
    answer = view["alias"]["dns_name"] if view["alias"] else ", ".join(view["values"] or [])
    raise InputError(f"{spec.record} {spec.type} is a simple record answering {answer}, which is no colour in "
                     f"targets ({', '.join(spec.targets)}); this switch would delete it. Add it as a colour's "
                     "target, or set force: true to replace it", record_sets_before=[view])


def plan(spec, state: State):
    """The record sets wanted, their weights and the guarded changes that get there, for one ChangeBatch."""
    check_conversion(spec, state)
    checks = health_checks_by_colour(spec, state)
    if spec.routing == "weighted":
        weights = desired_weights(spec, state)
        colours = [c for c in spec.targets if weights[c] or spec.idle_record == "keep"]
        desired = [build_rrset(spec, c, weights[c], checks.get(c)) for c in colours]
    else:
        weights = None
        desired = [build_rrset(spec, spec.active, None, checks.get(spec.active))]
    desired = sorted_sets(desired)
    if same_sets(desired, state.sets):
        return desired, weights, []
    # DELETE what was read, exactly, then CREATE what is wanted: Route53 refuses the whole batch
    # when any set changed since it was read (see the module docstring).
    changes = [{"Action": "DELETE", "ResourceRecordSet": s} for s in state.sets]
    changes += [{"Action": "CREATE", "ResourceRecordSet": s} for s in desired]
    return desired, weights, changes


def idle_answerable(spec, sets: list) -> list:
    """Colours with weight 0 whose record Route53 can still answer with.

    Route53 (Developer Guide, weighted routing and health checks) answers with the zero-weight
    records when every record with a weight above 0 is unhealthy; a record without a health check
    (or alias target health) is always healthy. So a kept zero-weight record is answerable
    exactly when every live record can turn unhealthy.
    """
    weighted = [s for s in sets if "SetIdentifier" in s]
    live = [s for s in weighted if s.get("Weight")]
    idle = [s["SetIdentifier"] for s in weighted if not s.get("Weight")]
    if not live or not idle or not all(has_health_evaluation(s) for s in live):
        return []
    return sorted(idle)
