# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Argument spec and validated input of alb_switch / alb_switch_info.

Everything is checked before the first API call, because moto accepts what AWS refuses
(weights above 999, more than 5 target groups, any stickiness duration) and AWS's own
errors come late. docs/alb_switch.md lists these rules with the AWS document for each.
"""

from __future__ import annotations

import re

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.pools import (
    is_int,
    validate_name,
    validate_traffic,
)

SERVICE = "elasticloadbalancing"
# ForwardConfig.TargetGroups[].Weight (ELBv2 API reference, TargetGroupTuple).
MAX_WEIGHT = 999
# "You can specify up to 5 target groups" in one forward action (ALB listeners guide, Forward actions).
MAX_TARGET_GROUPS = 5
# TargetGroupStickinessConfig.DurationSeconds: 1 second to 7 days.
MAX_STICKINESS = 604800
# The weight `active` gives its colour when it does not already hold all traffic. AWS reports a plain
# single-target-group forward as weight 1, so a listener created that way is already "active".
ACTIVE_WEIGHT = 1
DRAIN_METHODS = ("deregistration_delay", "request_count")

ARN_PREFIX = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:"
TARGET_GROUP_ARN_RE = re.compile(ARN_PREFIX + r"targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{1,32}\Z")
LISTENER_ARN_RE = re.compile(ARN_PREFIX + r"listener/(app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]+/[0-9a-f]+\Z")
RULE_ARN_RE = re.compile(ARN_PREFIX + r"listener-rule/(app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+\Z")
# Target group and load balancer names: 1-32 alphanumerics or hyphens, not starting or ending with a hyphen.
ELB_NAME_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,32}(?<!-)\Z")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}\Z")
RANGE_NOTE = " (ALB target group weights are 0-999)"


def selection_argument_spec() -> dict:
    """Which listener or rule: shared by alb_switch and alb_switch_info."""
    return {
        "listener_arn": {"type": "str"},
        "rule_arn": {"type": "str"},
        "load_balancer_name": {"type": "str"},
        "listener_port": {"type": "int"},
        "rule_priority": {"type": "int"},
        "pools": {"type": "dict"},
    }


SELECTION_MUTUALLY_EXCLUSIVE = [
    ["listener_arn", "load_balancer_name"], ["rule_arn", "listener_arn"], ["rule_arn", "load_balancer_name"],
    ["rule_arn", "rule_priority"],
]
SELECTION_REQUIRED_ONE_OF = [["listener_arn", "rule_arn", "load_balancer_name"]]
SELECTION_REQUIRED_TOGETHER = [["load_balancer_name", "listener_port"]]


def switch_argument_spec() -> dict:
    spec = selection_argument_spec()
    spec["pools"]["required"] = True
    spec.update({
        "active": {"type": "str"},
        "weights": {"type": "dict"},
        "stickiness": {
            "type": "dict",
            "options": {
                "enabled": {"type": "bool", "required": True},
                "duration": {"type": "int"},
            },
            "required_if": [["enabled", True, ["duration"]]],
        },
        "require_healthy": {"type": "bool", "default": True},
        "health_wait_timeout": {"type": "int", "default": 0},
        "force": {"type": "bool", "default": False},
        "preview": {
            "type": "dict",
            "options": {
                "listener_arn": {"type": "str"},
                "listener_port": {"type": "int"},
                "rule_priority": {"type": "int"},
                "header_name": {"type": "str"},
                "header_values": {"type": "list", "elements": "str"},
                "color": {"type": "str"},
            },
            "mutually_exclusive": [["listener_arn", "listener_port", "rule_priority"]],
            "required_one_of": [["listener_arn", "listener_port", "rule_priority"]],
            "required_together": [["header_name", "header_values"]],
        },
        "drained": {"type": "bool", "default": False},
        "drain_method": {"type": "str", "choices": list(DRAIN_METHODS), "default": "deregistration_delay"},
        "drain_timeout": {"type": "int", "default": 900},
    })
    return spec


SWITCH_MUTUALLY_EXCLUSIVE = [*SELECTION_MUTUALLY_EXCLUSIVE, ["active", "weights"]]
SWITCH_REQUIRED_ONE_OF = [*SELECTION_REQUIRED_ONE_OF, ["active", "weights"]]


def is_target_group_arn(value: str) -> bool:
    return bool(TARGET_GROUP_ARN_RE.match(value))


def _check_int(params: dict, option: str, low: int, high: int | None = None) -> None:
    value = params.get(option)
    if value is None:
        return
    if not is_int(value) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise InputError(f"{option}={value!r}: use an integer {bound}")


def check_selection(params: dict) -> None:
    """The listener/rule selection: ARNs of an Application Load Balancer, names AWS accepts, ports, priorities."""
    listener_arn, rule_arn = params.get("listener_arn"), params.get("rule_arn")
    for option, value, regex, kind in (("listener_arn", listener_arn, LISTENER_ARN_RE, "listener"),
                                       ("rule_arn", rule_arn, RULE_ARN_RE, "listener-rule")):
        if value is None:
            continue
        match = regex.match(value)
        if not match:
            raise InputError(f"{option}={value!r} is not an ELBv2 {kind} ARN (arn:aws:elasticloadbalancing:"
                             f"<region>:<account>:{kind}/app/<lb-name>/...)")
        if match.group(1) != "app":
            raise InputError(f"{option}={value!r} belongs to a {'Network' if match.group(1) == 'net' else 'Gateway'} "
                             "Load Balancer: alb_switch manages Application Load Balancers (only they forward to "
                             "weighted target groups)")
    name = params.get("load_balancer_name")
    if name is not None and not ELB_NAME_RE.match(name):
        raise InputError(f"load_balancer_name={name!r}: a load balancer name is 1-32 letters, digits or hyphens, "
                         "not starting or ending with a hyphen")
    _check_int(params, "listener_port", 1, 65535)
    # Rule priorities are 1-50000; the default rule has none (select the listener for it).
    _check_int(params, "rule_priority", 1, 50000)


def check_pools(pools) -> dict:
    """Colour -> target group name or ARN; at most 5 (one forward action) and no target group twice."""
    if not isinstance(pools, dict) or len(pools) < 2:
        raise InputError(f"pools needs at least two colours, each a target group name or ARN, got {pools!r}")
    if len(pools) > MAX_TARGET_GROUPS:
        raise InputError(f"pools has {len(pools)} colours: one ALB forward action takes at most "
                         f"{MAX_TARGET_GROUPS} target groups")
    clean, seen = {}, {}
    for colour, ref in pools.items():
        validate_name(colour, "pools colour")
        if not isinstance(ref, str) or not (is_target_group_arn(ref) or ELB_NAME_RE.match(ref)):
            raise InputError(f"pools.{colour}={ref!r}: give a target group name (1-32 letters, digits, hyphens) or "
                             "a target group ARN (arn:aws:elasticloadbalancing:...:targetgroup/<name>/<id>)")
        if ref in seen:
            raise InputError(f"pools.{seen[ref]} and pools.{colour} both name {ref!r}: each colour needs its own "
                             "target group")
        seen[ref] = colour
        clean[colour] = ref
    return clean


class Spec:
    """The validated input of one alb_switch run (or an alb_switch_info query with ``need_traffic=False``)."""

    def __init__(self, params: dict, need_traffic: bool = True) -> None:
        check_selection(params)
        self.listener_arn = params.get("listener_arn")
        self.rule_arn = params.get("rule_arn")
        self.load_balancer_name = params.get("load_balancer_name")
        self.listener_port = params.get("listener_port")
        self.rule_priority = params.get("rule_priority")
        self.pools = check_pools(params["pools"]) if need_traffic or params.get("pools") else {}
        self.active = self.weights = self.stickiness = self.preview = None
        if not need_traffic:
            return
        self.active = params.get("active")
        self.weights = validate_traffic(self.pools, self.active, params.get("weights"), MAX_WEIGHT, RANGE_NOTE)
        self.stickiness = check_stickiness(params.get("stickiness"))
        self.require_healthy = params.get("require_healthy", True)
        self.force = params.get("force", False)
        self.health_wait_timeout = params.get("health_wait_timeout") or 0
        _check_int(params, "health_wait_timeout", 0, 3600)
        self.preview = check_preview(params.get("preview"), self.pools)
        self.drained = params.get("drained", False)
        self.drain_method = params.get("drain_method") or "deregistration_delay"
        self.drain_timeout = params.get("drain_timeout", 900)
        _check_int(params, "drain_timeout", 0, 86400)

    @property
    def target_kind(self) -> str:
        return "rule" if self.rule_arn or self.rule_priority is not None else "listener"

    def describe_target(self) -> str:
        if self.rule_arn:
            return f"rule {self.rule_arn}"
        where = self.listener_arn or f"load balancer {self.load_balancer_name} port {self.listener_port}"
        if self.rule_priority is not None:
            return f"rule priority {self.rule_priority} of listener {where}"
        return f"listener {where}"


def check_stickiness(stickiness) -> dict | None:
    """The wanted TargetGroupStickinessConfig in its normalised form, or None to keep what is set."""
    if stickiness is None:
        return None
    if not stickiness.get("enabled"):
        return {"enabled": False}
    duration = stickiness.get("duration")
    if not is_int(duration) or not 1 <= duration <= MAX_STICKINESS:
        raise InputError(f"stickiness.duration={duration!r}: use seconds from 1 to {MAX_STICKINESS} (7 days)")
    return {"enabled": True, "duration": duration}


def check_preview(preview, pools: dict) -> dict | None:
    if not preview:
        return None
    clean = dict(preview)
    if clean.get("color") is not None and clean["color"] not in pools:
        raise InputError(f"preview.color={clean['color']!r} is not a colour in pools ({', '.join(sorted(pools))})")
    if clean.get("listener_arn") is not None:
        check_selection({"listener_arn": clean["listener_arn"]})
    _check_int(clean, "listener_port", 1, 65535)
    _check_int(clean, "rule_priority", 1, 50000)
    if clean.get("header_name") is not None:
        if not HEADER_NAME_RE.match(clean["header_name"]):
            raise InputError(f"preview.header_name={clean['header_name']!r}: an HTTP header name of 1-40 token "
                             "characters")
        values = clean.get("header_values") or []
        if not values or len(values) > 5 or any(not v or len(v) > 128 for v in values):
            raise InputError("preview.header_values: give 1-5 values of 1-128 characters (ALB http-header condition)")
    return clean


__all__ = [
    "ACTIVE_WEIGHT",
    "DRAIN_METHODS",
    "MAX_STICKINESS",
    "MAX_TARGET_GROUPS",
    "MAX_WEIGHT",
    "SELECTION_MUTUALLY_EXCLUSIVE",
    "SELECTION_REQUIRED_ONE_OF",
    "SELECTION_REQUIRED_TOGETHER",
    "SERVICE",
    "SWITCH_MUTUALLY_EXCLUSIVE",
    "SWITCH_REQUIRED_ONE_OF",
    "Spec",
    "check_pools",
    "check_preview",
    "check_selection",
    "check_stickiness",
    "is_target_group_arn",
    "selection_argument_spec",
    "switch_argument_spec",
]
