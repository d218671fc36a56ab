# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading a listener or rule, the colours' target groups and their health, and normalising what is read.

Normalised views are what idempotence and the race check compare: a forward action becomes its
target groups as sorted (ARN, weight) pairs plus its stickiness (``{"enabled": False}`` or
``{"enabled": True, "duration": N}``), whichever of AWS's two spellings it was read in (a single
``TargetGroupArn``, or ``ForwardConfig``, or both); every other action and field compares as AWS
returned it.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import BotoCoreError, ClientError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import aws_error, error_code
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError, SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.spec import SERVICE, is_target_group_arn

NOT_FOUND_CODES = frozenset(("ListenerNotFound", "RuleNotFound", "LoadBalancerNotFound", "TargetGroupNotFound"))
# Listener fields ModifyListener leaves alone when only DefaultActions is sent; compared before/after.
LISTENER_KEPT = ("Port", "Protocol", "Certificates", "SslPolicy", "AlpnPolicy", "MutualAuthentication")
RULE_KEPT = ("Priority", "Conditions", "IsDefault")
# Fields of an authenticate-oidc action AWS never returns (the secret) or that only the writer sets.
OIDC_WRITE_ONLY = ("ClientSecret", "UseExistingClientSecret")


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def call(client, operation: str, purpose: str, not_found: str | None = None, **kwargs) -> dict:
    """``client.<operation>(**kwargs)``; AWS errors become readable ``AwsError``s.

    ``not_found`` is the sentence for the *NotFound codes: it becomes an ``InputError`` naming the option.
    """
    try:
        return getattr(client, _snake(operation))(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        # One clause: without botocore both names are the same stand-in class.
        if not_found is not None and isinstance(exc, ClientError) and error_code(exc) in NOT_FOUND_CODES:
            raise InputError(not_found, aws_code=error_code(exc)) from exc
        raise aws_error(exc, SERVICE, operation, purpose) from exc


def _paged(client, operation: str, key: str, purpose: str, not_found: str | None = None, **kwargs) -> list:
    items, marker = [], None
    while True:
        page = call(client, operation, purpose, not_found, **kwargs, **({"Marker": marker} if marker else {}))
        items.extend(page.get(key) or [])
        marker = page.get("NextMarker")
        if not marker:
            return items


class Target:
    """The listener (and rule) being switched, with its load balancer."""

    def __init__(self, load_balancer: dict, listener: dict, rule: dict | None) -> None:
        self.load_balancer = load_balancer
        self.listener = listener
        self.rule = rule

    @property
    def kind(self) -> str:
        return "rule" if self.rule is not None else "listener"

    @property
    def obj(self) -> dict:
        return self.rule if self.rule is not None else self.listener

    @property
    def actions(self) -> list:
        return (self.rule.get("Actions") if self.rule is not None else self.listener.get("DefaultActions")) or []

    @property
    def arn(self) -> str:
        return self.rule["RuleArn"] if self.rule is not None else self.listener["ListenerArn"]

    def describe(self) -> str:
        where = (f"listener {self.listener.get('Protocol')}:{self.listener.get('Port')} "
                 f"of {self.load_balancer['LoadBalancerName']}")
        if self.rule is None:
            return where
        return f"rule priority {self.rule.get('Priority')} of {where}"

    def view(self) -> dict:
        info = {"kind": self.kind, "load_balancer_name": self.load_balancer["LoadBalancerName"],
                "load_balancer_arn": self.load_balancer["LoadBalancerArn"],
                "listener_arn": self.listener["ListenerArn"], "port": self.listener.get("Port"),
                "protocol": self.listener.get("Protocol"), "rule_arn": None, "priority": None}
        if self.rule is not None:
            info["rule_arn"] = self.rule["RuleArn"]
            info["priority"] = self.rule.get("Priority")
        return info


def _load_balancer(client, **kwargs) -> dict:
    what = kwargs.get("Names", kwargs.get("LoadBalancerArns"))
    found = call(client, "DescribeLoadBalancers", "to find the load balancer",
                 f"load balancer {what[0]} not found in this region and account: check load_balancer_name and region",
                 **kwargs)["LoadBalancers"]
    if not found:
        raise InputError(f"load balancer {what[0]} not found: check load_balancer_name and region")
    balancer = found[0]
    if balancer.get("Type", "application") != "application":
        raise InputError(f"load balancer {balancer['LoadBalancerName']} is a {balancer.get('Type')} load balancer: "
                         "alb_switch manages Application Load Balancers")
    return balancer


def listener_by_port(client, balancer: dict, port: int, option: str) -> dict:
    listeners = _paged(client, "DescribeListeners", "Listeners", "to find the listener",
                       LoadBalancerArn=balancer["LoadBalancerArn"])
    for listener in listeners:
        if listener.get("Port") == port:
            return listener
    ports = ", ".join(str(entry.get("Port")) for entry in listeners) or "none"
    raise InputError(f"{option}={port}: load balancer {balancer['LoadBalancerName']} has no listener on that port "
                     f"(its listeners: {ports})")


def read_listener(client, arn: str, option: str = "listener_arn") -> dict:
    found = call(client, "DescribeListeners", "to read the listener",
                 f"{option}: listener {arn} does not exist (deleted, or another region/account)",
                 ListenerArns=[arn])["Listeners"]
    if not found:
        raise InputError(f"{option}: listener {arn} does not exist")
    return found[0]


def read_rule(client, arn: str) -> dict:
    found = call(client, "DescribeRules", "to read the rule",
                 f"rule_arn: rule {arn} does not exist (deleted, or another region/account)", RuleArns=[arn])["Rules"]
    if not found:
        raise InputError(f"rule_arn: rule {arn} does not exist")
    return found[0]


def rules_of(client, listener_arn: str) -> list:
    return _paged(client, "DescribeRules", "Rules", "to read the listener's rules", ListenerArn=listener_arn)


def rule_by_priority(client, listener: dict, priority: int, option: str = "rule_priority") -> dict | None:
    for rule in rules_of(client, listener["ListenerArn"]):
        if str(rule.get("Priority")) == str(priority):
            return rule
    return None


def find_target(client, spec) -> Target:
    """The listener or rule named by the selection options (ARN, or load balancer name + port [+ priority])."""
    rule = None
    if spec.rule_arn:
        rule = read_rule(client, spec.rule_arn)
        listener_arn = spec.rule_arn.replace(":listener-rule/", ":listener/").rsplit("/", 1)[0]
        listener = read_listener(client, listener_arn, "rule_arn")
        balancer = _load_balancer(client, LoadBalancerArns=[listener["LoadBalancerArn"]])
    elif spec.listener_arn:
        listener = read_listener(client, spec.listener_arn)
        balancer = _load_balancer(client, LoadBalancerArns=[listener["LoadBalancerArn"]])
    else:
        balancer = _load_balancer(client, Names=[spec.load_balancer_name])
        listener = listener_by_port(client, balancer, spec.listener_port, "listener_port")
    if spec.rule_priority is not None:
        rule = rule_by_priority(client, listener, spec.rule_priority)
        if rule is None:
            raise InputError(f"rule_priority={spec.rule_priority}: listener {listener['ListenerArn']} has no rule with "
                             "that priority (create the rule with its conditions first, or select the listener "
                             "to switch its default action)")
    return Target(balancer, listener, rule)


def reread(client, target: Target) -> dict:
    """The listener or rule again (the guard before a write and the read-back after it)."""
    if target.rule is not None:
        return read_rule(client, target.rule["RuleArn"])
    return read_listener(client, target.listener["ListenerArn"])


def _describe_target_groups(client, refs: list, key: str) -> dict:
    if not refs:
        return {}
    try:
        groups = call(client, "DescribeTargetGroups", "to resolve the pools' target groups", "",
                      **{key: refs})["TargetGroups"]
    except InputError:
        # AWS names no group in TargetGroupNotFound: find which ones are missing (error path only).
        missing = []
        for ref in refs:
            try:
                call(client, "DescribeTargetGroups", "to resolve the pools' target groups", "", **{key: [ref]})
            except InputError:
                missing.append(ref)
        raise InputError("", missing=missing) from None
    found = {}
    for group in groups:
        found[group["TargetGroupArn"]] = group
        found[group["TargetGroupName"]] = group
    return found


def resolve_target_groups(client, pools: dict, balancer: dict) -> dict:
    """Colour -> target group (as DescribeTargetGroups returns it), checked against the load balancer.

    AWS refuses a target group of another VPC and one already used by another load balancer when the
    listener is modified; moto accepts both, so they are checked here, before anything changes.
    """
    arns = [ref for ref in pools.values() if is_target_group_arn(ref)]
    names = [ref for ref in pools.values() if not is_target_group_arn(ref)]
    found = {}
    for refs, key in ((names, "Names"), (arns, "TargetGroupArns")):
        try:
            found.update(_describe_target_groups(client, refs, key))
        except InputError as exc:
            missing = exc.details.get("missing") or refs
            colours = [c for c, ref in pools.items() if ref in missing]
            raise InputError("; ".join(f"pools.{c}: target group {pools[c]!r} not found in this region and account"
                                       for c in colours) + ": check the name or ARN (target groups are regional)",
                             missing=missing) from None
    groups = {}
    for colour, ref in pools.items():
        group = found.get(ref)
        if group is None:  # moto/AWS answered without it
            raise InputError(f"pools.{colour}: target group {ref!r} not found in this region and account")
        if group.get("VpcId") and balancer.get("VpcId") and group["VpcId"] != balancer["VpcId"]:
            raise InputError(f"pools.{colour}: target group {group['TargetGroupName']} is in {group['VpcId']}, load "
                             f"balancer {balancer['LoadBalancerName']} in {balancer['VpcId']}: an ALB forwards only "
                             "to target groups of its own VPC (AWS refuses the change)")
        others = [arn for arn in group.get("LoadBalancerArns") or [] if arn != balancer["LoadBalancerArn"]]
        if others:
            raise InputError(f"pools.{colour}: target group {group['TargetGroupName']} is already used by load "
                             f"balancer {others[0]}: a target group serves one load balancer "
                             "(TargetGroupAssociationLimit on AWS); create one per load balancer")
        if group.get("TargetType") != "lambda" and group.get("Protocol") not in ("HTTP", "HTTPS"):
            raise InputError(f"pools.{colour}: target group {group['TargetGroupName']} uses protocol "
                             f"{group.get('Protocol')}: an ALB forwards to HTTP, HTTPS or Lambda target groups")
        groups[colour] = group
    return groups


def target_health(client, group: dict) -> list:
    """(target, state, reason, description) for every registered target, as DescribeTargetHealth says."""
    answer = call(client, "DescribeTargetHealth", "to check the target colour's health",
                  f"target group {group['TargetGroupArn']} disappeared", TargetGroupArn=group["TargetGroupArn"])
    rows = []
    for item in answer.get("TargetHealthDescriptions") or []:
        target = item.get("Target") or {}
        health = item.get("TargetHealth") or {}
        name = target.get("Id", "?") + (f":{target['Port']}" if target.get("Port") else "")
        rows.append({"target": name, "state": health.get("State"), "reason": health.get("Reason"),
                     "description": health.get("Description")})
    return rows


def health_summary(rows: list) -> dict:
    return {"healthy": sum(1 for r in rows if r["state"] == "healthy"), "registered": len(rows), "targets": rows}


def refuse_unhealthy(colour: str, group: dict, rows: list, live: str) -> None:
    if any(r["state"] == "healthy" for r in rows):
        return
    if not rows:
        why = "no target is registered"
    else:
        why = "; ".join(f"{r['target']} {r['state']}" + (f" ({r['reason']}: {r['description']})" if r["reason"] else "")
                        for r in rows)
    raise SwitchError(f"refusing to send traffic to {colour}: target group {group['TargetGroupName']} has no healthy "
                      f"target ({why}). Nothing was changed; traffic stays {live}. Fix the targets, raise "
                      "health_wait_timeout, or set require_healthy=false", changed=False, color=colour,
                      unhealthy_targets=rows)


def stickiness_view(config) -> dict | None:
    if config is None:
        return None
    if not config.get("Enabled"):
        return {"enabled": False}
    return {"enabled": True, "duration": config.get("DurationSeconds")}


def forward_index(actions: list) -> int | None:
    for index, action in enumerate(actions):
        if action.get("Type") == "forward":
            return index
    return None


def forward_view(action: dict) -> dict:
    """{"weights": {arn: weight}, "stickiness": ...} of a forward action in either spelling."""
    config = action.get("ForwardConfig") or {}
    groups = config.get("TargetGroups")
    if groups:
        weights = {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
    elif action.get("TargetGroupArn"):
        weights = {action["TargetGroupArn"]: 1}
    else:
        weights = {}
    return {"weights": weights, "stickiness": stickiness_view(config.get("TargetGroupStickinessConfig"))}


def normalise_action(action: dict) -> dict:
    if action.get("Type") == "forward":
        view = forward_view(action)
        sticky = view["stickiness"] or {"enabled": False}
        return {"Type": "forward", "Order": action.get("Order"),
                "targets": sorted(view["weights"].items()), "stickiness": sticky}
    clean = copy.deepcopy(action)
    for config_key in ("AuthenticateOidcConfig",):
        for field in OIDC_WRITE_ONLY:
            (clean.get(config_key) or {}).pop(field, None)
    return clean


def normalise_actions(actions: list) -> list:
    return sorted((normalise_action(a) for a in actions or []), key=lambda a: (a.get("Order") or 0, a["Type"]))


def public_actions(actions: list) -> list:
    """Actions for the task result: an OIDC client secret (AWS omits it, an emulator may not) is masked."""
    shown = copy.deepcopy(actions or [])
    for action in shown:
        oidc = action.get("AuthenticateOidcConfig") or {}
        if "ClientSecret" in oidc:
            oidc["ClientSecret"] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    return shown


def normalised(obj: dict, kind: str) -> dict:
    """Everything the race check compares of a listener or rule."""
    if kind == "rule":
        view = {key: obj.get(key) for key in RULE_KEPT}
        view["Priority"] = str(view["Priority"])
        view["actions"] = normalise_actions(obj.get("Actions"))
    else:
        view = {key: obj.get(key) for key in LISTENER_KEPT}
        view["actions"] = normalise_actions(obj.get("DefaultActions"))
    return view


__all__ = [
    "Target",
    "call",
    "find_target",
    "forward_index",
    "forward_view",
    "health_summary",
    "listener_by_port",
    "normalise_actions",
    "normalised",
    "public_actions",
    "read_listener",
    "read_rule",
    "refuse_unhealthy",
    "reread",
    "resolve_target_groups",
    "rule_by_priority",
    "rules_of",
    "stickiness_view",
    "target_health",
]
