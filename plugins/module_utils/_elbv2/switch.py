# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The two entry points: ``switch()`` (alb_switch) and ``info()`` (alb_switch_info).

Order of a switch: read the listener or rule and the target groups, validate and plan, check the
health of every colour that will get traffic, point the preview at the idle colour (it takes no
production traffic, so it goes first), then the one guarded ModifyListener/ModifyRule, then the
optional ``drained`` wait. A refusal before the write changes nothing; traffic stays where it was.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.apply import (
    apply_preview,
    guarded_write,
    wait_drained,
    wait_in_service,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.plan import (
    plan,
    preview_colour,
    sole_active,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.spec import Spec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.state import (
    find_target,
    forward_index,
    forward_view,
    health_summary,
    public_actions,
    refuse_unhealthy,
    resolve_target_groups,
    target_health,
)


def _group_view(group: dict) -> dict:
    return {"arn": group["TargetGroupArn"], "name": group["TargetGroupName"], "vpc_id": group.get("VpcId"),
            "target_type": group.get("TargetType")}


def _live(weights: dict) -> str:
    active = sole_active(weights)
    if active:
        return f"on {active}"
    shares = ", ".join(f"{c}={w}" for c, w in weights.items() if w)
    return f"split ({shares})" if shares else "where it was"


def _check_health(client, spec, groups: dict, p) -> dict:
    health = {}
    for colour, weight in p.weights.items():
        if weight == 0:
            continue
        rows = target_health(client, groups[colour])
        if spec.health_wait_timeout and not any(r["state"] == "healthy" for r in rows):
            wait_in_service(client, groups[colour], spec.health_wait_timeout)
            rows = target_health(client, groups[colour])
        health[colour] = health_summary(rows)
        if spec.require_healthy:
            refuse_unhealthy(colour, groups[colour], rows, _live(p.previous_weights))
    return health


def switch(client, params: dict, check_mode: bool = False, cloudwatch_factory=None, sleep=time.sleep) -> dict:
    """Do (or predict) one switch; returns the module result. Raises SwitchyardError."""
    spec = Spec(params)
    target = find_target(client, spec)
    groups = resolve_target_groups(client, spec.pools, target.load_balancer)
    p = plan(spec, target, groups)
    colour_of = {g["TargetGroupArn"]: c for c, g in groups.items()}
    health = _check_health(client, spec, groups, p) if p.changed else {}
    warnings = []
    if p.foreign:
        warnings.append(f"force=true: removed target groups that are no colour from the forward action: "
                        f"{', '.join(p.foreign)}")
    preview = None
    if spec.preview:
        preview = apply_preview(client, spec, target, groups, preview_colour(spec, p.weights), check_mode=check_mode)
    result = {
        "changed": p.changed or bool(preview and preview["changed"]),
        "target": target.view(),
        "active": p.active,
        "previous_active": p.previous_active,
        "weights": p.weights,
        "previous_weights": p.previous_weights,
        "stickiness": p.stickiness,
        "previous_stickiness": p.previous_stickiness,
        "target_groups": {c: _group_view(g) for c, g in groups.items()},
        "health": health,
        "actions_before": public_actions(target.actions),
        "actions_after": public_actions(p.actions if p.changed else target.actions),
        "preview": preview,
        "drain": None,
        "diff": {
            "before_header": target.describe(),
            "after_header": target.describe(),
            "before": {"weights": p.previous_weights, "stickiness": p.previous_stickiness,
                       "preview_color": None},
            "after": {"weights": p.weights, "stickiness": p.stickiness,
                      "preview_color": preview["color"] if preview else None},
        },
        "warnings": warnings,
    }
    if not p.changed or check_mode:
        return result
    try:
        warnings.extend(guarded_write(client, target.kind, target.obj, p.actions, colour_of=colour_of,
                                      what=target.describe()))
    except SwitchError as exc:
        if preview and preview["changed"]:
            # The preview was pointed at the idle colour before the production write failed.
            exc.details["changed"] = True
            exc.details["preview"] = preview
        raise
    switched_at = datetime.datetime.now(datetime.timezone.utc)
    if spec.drained:
        old = {c: groups[c] for c, w in p.previous_weights.items() if w > 0 and p.weights[c] == 0}
        result["drain"] = wait_drained(client, spec, target, old, switched_at,
                                       cloudwatch_factory=cloudwatch_factory, sleep=sleep)
        warnings.extend(result["drain"].pop("warnings"))
    return result


def info(client, params: dict) -> dict:
    """The listener's or rule's forward action by colour; never changes anything. Raises SwitchyardError."""
    spec = Spec(params, need_traffic=False)
    target = find_target(client, spec)
    groups = resolve_target_groups(client, spec.pools, target.load_balancer) if spec.pools else {}
    colour_of = {g["TargetGroupArn"]: c for c, g in groups.items()}
    index = forward_index(target.actions)
    view = forward_view(target.actions[index]) if index is not None else {"weights": {}, "stickiness": None}
    weights = {c: view["weights"].get(g["TargetGroupArn"], 0) for c, g in groups.items()} if groups else None
    result = {
        "changed": False,
        "target": target.view(),
        "forward": [{"arn": arn, "weight": w, "color": colour_of.get(arn)} for arn, w in view["weights"].items()],
        "has_forward": index is not None,
        "weights": weights,
        "active": sole_active(weights) if weights and any(weights.values()) else None,
        "stickiness": view["stickiness"],
        "managed": index is not None and bool(groups) and all(arn in colour_of for arn in view["weights"]),
        "target_groups": {c: _group_view(g) for c, g in groups.items()},
        "actions": public_actions(target.actions),
        "health": {},
    }
    if params.get("health") and groups:
        result["health"] = {c: health_summary(target_health(client, g)) for c, g in groups.items()}
    return result


__all__ = ["info", "switch"]
