# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The wanted forward action and the new action list, planned from the normalised state.

Only the forward action changes. Every other action (authenticate-oidc/cognito before it, its
Order) is passed back as read, so ModifyListener/ModifyRule, which replace the whole action list,
keep them. Every colour of ``pools`` stays in the forward action, an idle one with weight 0: the
target group then stays associated with the load balancer, so ALB keeps health-checking it
(a target group used by no listener reports its targets ``unused``) and the next switch can check
its health.
"""

from __future__ import annotations

import copy

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.spec import ACTIVE_WEIGHT
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.state import (
    forward_index,
    forward_view,
)


class Plan:
    """Before/after of one switch, by colour."""

    def __init__(self, *, previous_weights, previous_active, weights, stickiness, previous_stickiness, actions,
                 changed, foreign) -> None:
        self.previous_weights = previous_weights
        self.previous_active = previous_active
        self.weights = weights
        self.stickiness = stickiness
        self.previous_stickiness = previous_stickiness
        self.actions = actions
        self.changed = changed
        self.foreign = foreign

    @property
    def active(self) -> str | None:
        return sole_active(self.weights)


def sole_active(weights: dict | None) -> str | None:
    if not weights:
        return None
    live = [colour for colour, weight in weights.items() if weight > 0]
    return live[0] if len(live) == 1 else None


def stickiness_config(view: dict | None) -> dict | None:
    if view is None:
        return None
    if not view["enabled"]:
        return {"Enabled": False}
    return {"Enabled": True, "DurationSeconds": view["duration"]}


def forward_action(groups: dict, weights: dict, stickiness: dict | None, order=None) -> dict:
    """A forward action in ForwardConfig form, colours in pools order."""
    config = {"TargetGroups": [{"TargetGroupArn": groups[c]["TargetGroupArn"], "Weight": w}
                               for c, w in weights.items()]}
    sticky = stickiness_config(stickiness)
    if sticky is not None:
        config["TargetGroupStickinessConfig"] = sticky
    action = {"Type": "forward", "ForwardConfig": config}
    if order is not None:
        action["Order"] = order
    return action


def writable(action: dict) -> dict:
    """An action as read, made acceptable to ModifyListener/ModifyRule unchanged in meaning."""
    action = copy.deepcopy(action)
    oidc = action.get("AuthenticateOidcConfig")
    if oidc is not None and "ClientSecret" not in oidc:
        # AWS never returns the secret; without this flag a modify would demand it again.
        oidc["UseExistingClientSecret"] = True
    return action


def plan(spec, target, groups: dict) -> Plan:
    """What the forward action of ``target`` must become for ``spec`` (raises InputError when it cannot)."""
    actions = target.actions
    index = forward_index(actions)
    if index is None:
        kinds = ", ".join(a.get("Type", "?") for a in actions) or "no action"
        raise InputError(f"{target.describe()} has no forward action ({kinds}): alb_switch changes the weights of a "
                         "forward action; give it a forward to one of the pools' target groups first")
    current = forward_view(actions[index])
    colour_of = {g["TargetGroupArn"]: c for c, g in groups.items()}
    foreign = [arn for arn in current["weights"] if arn not in colour_of]
    if foreign and not spec.force:
        raise InputError(f"{target.describe()} forwards to target groups that are no colour in pools: "
                         f"{', '.join(foreign)}. Add them to pools, or set force=true to remove them from the forward "
                         "action")
    previous = {c: current["weights"].get(g["TargetGroupArn"], 0) for c, g in groups.items()}
    previous_active = sole_active(previous) if any(previous.values()) else None
    if spec.weights is not None:
        weights = dict(spec.weights)
    else:
        kept = previous[spec.active] if previous_active == spec.active else ACTIVE_WEIGHT
        weights = {c: (kept if c == spec.active else 0) for c in groups}
    stickiness = spec.stickiness if spec.stickiness is not None else current["stickiness"]
    wanted = {groups[c]["TargetGroupArn"]: w for c, w in weights.items()}
    same_sticky = (stickiness or {"enabled": False}) == (current["stickiness"] or {"enabled": False})
    changed = wanted != current["weights"] or not same_sticky
    new_actions = [writable(a) for a in actions]
    new_actions[index] = forward_action(groups, weights, stickiness, actions[index].get("Order"))
    return Plan(previous_weights=previous, previous_active=previous_active, weights=weights, stickiness=stickiness,
                previous_stickiness=current["stickiness"], actions=new_actions, changed=changed, foreign=foreign)


def preview_colour(spec, weights: dict) -> str:
    """The colour the preview forwards to: preview.color, else the one colour without traffic."""
    if spec.preview.get("color"):
        return spec.preview["color"]
    idle = [c for c, w in weights.items() if w == 0]
    if len(idle) != 1:
        raise InputError("preview.color is needed: after this switch "
                         + (f"{len(idle)} colours ({', '.join(idle)}) are idle" if idle else "no colour is idle")
                         + ", so which one the preview serves is not implied")
    return idle[0]


def preview_actions(actions: list, groups: dict, colour: str, describe: str) -> tuple[list, bool]:
    """The preview listener's or rule's actions forwarding only to ``colour``; and whether that changes them."""
    index = forward_index(actions)
    if index is None:
        raise InputError(f"preview: {describe} has no forward action to point at the idle colour; give it a forward "
                         "action first")
    current = forward_view(actions[index])
    arn = groups[colour]["TargetGroupArn"]
    changed = current["weights"] != {arn: 1}
    new_actions = [writable(a) for a in actions]
    new_actions[index] = forward_action({colour: groups[colour]}, {colour: 1}, current["stickiness"],
                                        actions[index].get("Order"))
    return new_actions, changed


__all__ = ["Plan", "forward_action", "plan", "preview_actions", "preview_colour", "sole_active", "writable"]
