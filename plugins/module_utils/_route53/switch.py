# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The two entry points: ``switch()`` (route53_switch) and ``info()`` (route53_switch_info).

After any failed or ambiguous ChangeResourceRecordSets (botocore retries a read timeout or a
5xx, and the retry of an applied batch is refused) the record is read back and the result says
what is live: a record that matches the request is a success with a warning; a record that
another run changed in between is re-planned once (``retry_on_conflict``) or reported.
"""

from __future__ import annotations

import datetime

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import BotoCoreError, ClientError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import (
    AwsError,
    describe_error,
    error_code,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.change import (
    REFUSAL_CODES,
    register_error_parser,
    submit,
    truncate_comment,
    wait_insync,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.plan import (
    classify,
    idle_answerable,
    plan,
    sole_active,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.records import (
    ALIAS_TTL,
    fqdn,
    rrset_view,
    same_sets,
    zone_id_key,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.spec import Spec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.zones import (
    check_not_delegated,
    find_zone,
    read_record_sets,
)


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


def _comment(spec: Spec, weights) -> str:
    """The batch's Comment, cut to Route53's 256 characters, so change_batch is exactly what is sent."""
    what = (f"simple -> {spec.active}" if weights is None
            else "weighted " + ", ".join(f"{c}={w}" for c, w in weights.items()))
    return truncate_comment(f"switchyard.bluegreen.route53_switch: {spec.record} {spec.type} {what}")


def _describe_sets(sets: list) -> str:
    if not sets:
        return "no record set"
    weighted = [s for s in sets if "SetIdentifier" in s]
    if weighted:
        return "weights " + ", ".join(f"{s['SetIdentifier']}={s.get('Weight')}" for s in weighted)
    view = rrset_view(sets[0])
    return "simple record answering " + (view["alias"]["dns_name"] if view["alias"] else ", ".join(view["values"]))


def _planned_result(spec: Spec, zone: dict, state, *, desired, weights, changes) -> dict:
    before = [rrset_view(s) for s in state.sets]
    after = [rrset_view(s) for s in desired] if changes else before
    return {
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
        "idle_answerable": idle_answerable(spec, desired if changes else state.sets),
        "diff": {
            "before_header": f"{fqdn(spec.record)} {spec.type} ({state.routing})",
            "after_header": f"{fqdn(spec.record)} {spec.type} ({spec.routing})",
            "before": {"record_sets": before},
            "after": {"record_sets": after},
        },
        "propagation": {"ttl": _old_ttl(state.sets) if changes else 0,
                        "based_on": "unchanged" if not changes else "check_mode", "settled_at": None},
        "warnings": [],
    }


def _read_back(client, zone: dict, spec: Spec, exc) -> list:
    try:
        return [s for s in read_record_sets(client, zone["id"], spec.record) if s.get("Type") == spec.type]
    except (AwsError, BotoCoreError, ClientError) as read_exc:
        raise SwitchError(
            f"{describe_error(exc, 'route53', 'ChangeResourceRecordSets', 'to change the record')}; reading the "
            f"record back failed too ({read_exc}), so whether the change was applied is unknown: check "
            f"{fqdn(spec.record)} {spec.type} in zone {zone['name']} before re-running", changed=False,
            status="UNKNOWN") from exc


def _submit_with_truth(client, spec: Spec, zone: dict, state, *, desired, result: dict):
    """Submit; after a failure read back; returns (result, ChangeInfo or None when none is known)."""
    for attempt in (1, 2):
        try:
            return result, submit(client, zone["id"], result["change_batch"]["Changes"],
                                  result["change_batch"]["Comment"])
        except (ClientError, BotoCoreError) as exc:
            live = _read_back(client, zone, spec, exc)
            code = error_code(exc)
            what = describe_error(exc, "route53", "ChangeResourceRecordSets", "to change the record")
            if same_sets(live, desired):
                result["warnings"].append(
                    f"the answer to ChangeResourceRecordSets was ambiguous ({what}); the record was read back and "
                    "matches this request, so the change is live. Its change id is unknown, so this run did not "
                    "wait for INSYNC")
                result["propagation"]["based_on"] = "read_back"
                return result, None
            if same_sets(live, state.sets):
                if code in REFUSAL_CODES:
                    raise SwitchError(f"Route53 rejected the change batch and applied none of it (a batch is all or "
                                      f"nothing): {exc.response['Error'].get('Message')}; the record was read back "
                                      f"and is unchanged ({_describe_sets(live)})", changed=False,
                                      record_sets_live=[rrset_view(s) for s in live]) from exc
                raise SwitchError(f"{what}; the record was read back and is unchanged ({_describe_sets(live)})",
                                  changed=False, record_sets_live=[rrset_view(s) for s in live]) from exc
            # Neither the state this run planned from nor its request: another run changed the record.
            if code in REFUSAL_CODES and spec.retry_on_conflict and attempt == 1:
                state = classify(spec, live)
                desired, weights, changes = plan(spec, state)
                warnings = result["warnings"] + [
                    f"the record changed while this run was switching it (now {_describe_sets(live)}); Route53 "
                    "refused this run's guarded batch, so it was planned again from the live record"]
                result = _planned_result(spec, zone, state, desired=desired, weights=weights, changes=changes)
                result["warnings"] = warnings
                if not changes:
                    return result, None
                continue
            raise SwitchError(
                f"the record changed while this run was switching it: it is now {_describe_sets(live)}, which is "
                f"neither what this run read ({_describe_sets(state.sets)}) nor what it asked for; "
                + ("Route53 refused this run's guarded batch, so nothing of it was applied. "
                   if code in REFUSAL_CODES else f"the change failed ({what}). ")
                + "Check who else switches this record, then re-run", changed=code not in REFUSAL_CODES,
                record_sets_live=[rrset_view(s) for s in live]) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def switch(client, params: dict, check_mode: bool = False, wait_delay: float | None = None) -> dict:
    """Do (or predict) one switch; returns the module result. Raises SwitchyardError."""
    spec = Spec(params)
    register_error_parser(client)
    zone = find_zone(client, spec)
    spec.check_in_zone(zone["name"])
    spec.check_zone_kind(zone)
    sets_at_name = read_record_sets(client, zone["id"], spec.record)
    check_not_delegated(client, zone, spec.record, sets_at_name)
    state = classify(spec, sets_at_name)
    desired, weights, changes = plan(spec, state)
    result = _planned_result(spec, zone, state, desired=desired, weights=weights, changes=changes)
    if not changes or check_mode:
        return result
    result, info = _submit_with_truth(client, spec, zone, state, desired=desired, result=result)
    if info is None:
        if result["changed"]:
            result["propagation"]["settled_at"] = _iso(_now() + datetime.timedelta(
                seconds=result["propagation"]["ttl"]))
        return result
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
    ttl = result["propagation"]["ttl"]
    result["propagation"] = {"ttl": ttl, "based_on": based_on,
                             "settled_at": _iso(base + datetime.timedelta(seconds=ttl))}
    return result


def info(client, params: dict) -> dict:
    """Current state of the record; never changes anything. Raises SwitchyardError."""
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
        "idle_answerable": idle_answerable(spec, state.sets) if state.problem is None else [],
        "record_sets": [rrset_view(s) for s in state.sets],
    }
