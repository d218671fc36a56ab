# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Writing a switch, the preview listener or rule, and the ``drained`` wait.

ELBv2 has no conditional write (no ETag or version on ModifyListener/ModifyRule), so a switch is a
read-modify-write guarded twice: the listener or rule is read again just before the write and must
equal what the plan was made from (else nothing is written), and it is read back after the write
and must equal exactly the planned result, everything else included. A difference after the write
means another writer changed it in between; the error names what is live.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import (
    BotoCoreError,
    ClientError,
    WaiterError,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import (
    AwsError,
    aws_error,
    describe_error,
    error_code,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError, SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.plan import preview_actions
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.spec import SERVICE
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.state import (
    call,
    forward_index,
    forward_view,
    listener_by_port,
    normalised,
    public_actions,
    read_listener,
    reread,
    rule_by_priority,
)

# ALB publishes RequestCount per minute, and a minute's datapoint can appear a minute or more later.
METRIC_PERIOD = 60
METRIC_DELAY = 120


def describe_weights(actions: list, colour_of: dict) -> str:
    index = forward_index(actions or [])
    if index is None:
        return "no forward action"
    weights = forward_view(actions[index])["weights"]
    return "forward " + ", ".join(f"{colour_of.get(arn, arn)}={w}" for arn, w in weights.items())


def _modify(client, kind: str, arn: str, actions: list) -> None:
    if kind == "rule":
        client.modify_rule(RuleArn=arn, Actions=actions)
    else:
        client.modify_listener(ListenerArn=arn, DefaultActions=actions)


def _actions_of(obj: dict, kind: str) -> list:
    return obj.get("Actions") if kind == "rule" else obj.get("DefaultActions")


def guarded_write(client, kind: str, before: dict, new_actions: list, *, colour_of: dict, what: str) -> list:
    """ModifyListener/ModifyRule of ``before`` to ``new_actions``; returns warnings. Raises SwitchError on a race."""
    arn = before["RuleArn"] if kind == "rule" else before["ListenerArn"]
    operation = "ModifyRule" if kind == "rule" else "ModifyListener"
    expected = normalised({**before, ("Actions" if kind == "rule" else "DefaultActions"): new_actions}, kind)
    guard = reread(client, _Shim(kind, before))
    if normalised(guard, kind) != normalised(before, kind):
        raise SwitchError(f"{what} changed while this run was planning (now "
                          f"{describe_weights(_actions_of(guard, kind), colour_of)}, planned from "
                          f"{describe_weights(_actions_of(before, kind), colour_of)}): another writer is switching it. "
                          "Nothing was written; check who else changes it, then re-run", changed=False, race=True)
    warnings, failure = [], None
    try:
        _modify(client, kind, arn, new_actions)
    except (ClientError, BotoCoreError) as exc:
        # Refused, or a timeout/5xx that may still have been applied: the read-back says which.
        failure = exc
    try:
        after = reread(client, _Shim(kind, before))
    except (AwsError, InputError) as exc:
        raise SwitchError(f"{operation} was sent but reading {what} back failed ({exc}): check it before "
                          "re-running", changed=failure is None) from exc
    live = normalised(after, kind)
    if failure is not None:
        sentence = describe_error(failure, SERVICE, operation, "to switch the traffic")
        if live == normalised(before, kind):
            raise SwitchError(f"{sentence}; {what} was read back and is unchanged "
                              f"({describe_weights(_actions_of(before, kind), colour_of)})", changed=False,
                              aws_code=error_code(failure)) from failure
        if live == expected:
            warnings.append(f"{operation} answered with an error ({sentence}) but {what} was read back and matches "
                            "this request, so the switch is live")
            return warnings
    if live == expected:
        return warnings
    raise SwitchError(f"{what} changed around this run's write: it is now "
                      f"{describe_weights(_actions_of(after, kind), colour_of)}, which is not what this run wrote "
                      f"({describe_weights(new_actions, colour_of)}); another writer changed it in between (ELBv2 "
                      "has no conditional write). Check who else switches it, read it with alb_switch_info, then "
                      "re-run", changed=True, race=True, live_actions=public_actions(_actions_of(after, kind)))


class _Shim:
    """Just enough of a Target for ``reread``."""

    def __init__(self, kind: str, obj: dict) -> None:
        self.rule = obj if kind == "rule" else None
        self.listener = obj if kind == "listener" else None


def apply_preview(client, spec, target, groups: dict, colour: str, *, check_mode: bool) -> dict:
    """Point the preview listener or header-conditioned rule at ``colour``; returns its result entry."""
    preview = spec.preview
    colour_of = {g["TargetGroupArn"]: c for c, g in groups.items()}
    if preview.get("rule_priority") is not None:
        rule = rule_by_priority(client, target.listener, preview["rule_priority"], "preview.rule_priority")
        header = preview.get("header_name")
        if rule is None:
            if header is None:
                raise InputError(f"preview.rule_priority={preview['rule_priority']}: no rule has that priority; give "
                                 "preview.header_name and preview.header_values to create it")
            conditions = [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": header,
                                                                        "Values": list(preview["header_values"])}}]
            actions = [{"Type": "forward", "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": groups[colour]["TargetGroupArn"], "Weight": 1}]}}]
            result = {"kind": "rule", "color": colour, "changed": True, "created": True, "rule_arn": None,
                      "priority": preview["rule_priority"], "conditions": conditions}
            if not check_mode:
                created = call(client, "CreateRule", "to create the preview rule", None,
                               ListenerArn=target.listener["ListenerArn"], Priority=preview["rule_priority"],
                               Conditions=conditions, Actions=actions)["Rules"][0]
                result["rule_arn"] = created["RuleArn"]
            return result
        if header is not None:
            wanted = {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": header,
                                                                   "Values": list(preview["header_values"])}}
            have = [{"Field": c.get("Field"), "HttpHeaderConfig": c.get("HttpHeaderConfig")}
                    for c in rule.get("Conditions") or []]
            if have != [wanted]:
                raise InputError(f"preview.rule_priority={preview['rule_priority']} is a rule with other conditions "
                                 f"({rule.get('Conditions')}); alb_switch keeps a rule's conditions: choose a free "
                                 "priority or drop preview.header_name to use that rule as it is")
        actions, changed = preview_actions(rule.get("Actions") or [], groups, colour,
                                           f"preview rule priority {rule.get('Priority')}")
        result = {"kind": "rule", "color": colour, "changed": changed, "created": False,
                  "rule_arn": rule["RuleArn"], "priority": rule.get("Priority"), "conditions": rule.get("Conditions")}
        if changed and not check_mode:
            guarded_write(client, "rule", rule, actions, colour_of=colour_of,
                          what=f"preview rule priority {rule.get('Priority')}")
        return result
    if preview.get("listener_arn"):
        listener = read_listener(client, preview["listener_arn"], "preview.listener_arn")
        if listener["LoadBalancerArn"] != target.load_balancer["LoadBalancerArn"]:
            raise InputError("preview.listener_arn belongs to another load balancer than the switched listener")
    else:
        listener = listener_by_port(client, target.load_balancer, preview["listener_port"], "preview.listener_port")
    if listener["ListenerArn"] == target.listener["ListenerArn"]:
        raise InputError("preview names the switched listener itself: give the test listener (another port)")
    actions, changed = preview_actions(listener.get("DefaultActions") or [], groups, colour,
                                       f"preview listener port {listener.get('Port')}")
    result = {"kind": "listener", "color": colour, "changed": changed, "created": False,
              "listener_arn": listener["ListenerArn"], "port": listener.get("Port")}
    if changed and not check_mode:
        guarded_write(client, "listener", listener, actions, colour_of=colour_of,
                      what=f"preview listener port {listener.get('Port')}")
    return result


def deregistration_delay(client, group: dict) -> int:
    attributes = call(client, "DescribeTargetGroupAttributes", "to read the deregistration delay for drained", None,
                      TargetGroupArn=group["TargetGroupArn"])["Attributes"]
    for item in attributes:
        if item.get("Key") == "deregistration_delay.timeout_seconds":
            return int(item.get("Value") or 0)
    return 300  # AWS's default


def _dimension(arn: str) -> str:
    """CloudWatch dimension value of an ELBv2 ARN: targetgroup/<name>/<id>, or app/<name>/<id> for the balancer."""
    resource = arn.split(":", 5)[5]
    return resource[len("loadbalancer/"):] if resource.startswith("loadbalancer/") else resource


def _request_count(cloudwatch, balancer_arn: str, group_arn: str, start, end) -> float:
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB", MetricName="RequestCount", Period=METRIC_PERIOD, Statistics=["Sum"],
        StartTime=start, EndTime=end,
        Dimensions=[{"Name": "TargetGroup", "Value": _dimension(group_arn)},
                    {"Name": "LoadBalancer", "Value": _dimension(balancer_arn)}])
    return sum(point.get("Sum", 0) for point in answer.get("Datapoints") or [])


def wait_drained(client, spec, target, old: dict, switched_at, *, cloudwatch_factory=None,
                 sleep=time.sleep, now=None) -> dict:
    """Wait until the colours that lost their traffic are drained; returns the ``drain`` result.

    ``deregistration_delay``: wait the largest deregistration delay of the old target groups (the
    time AWS gives an in-flight request on a deregistered target), bounded by drain_timeout.
    ``request_count``: poll CloudWatch RequestCount of the old target groups until the minutes after
    the switch show none, or the same delay has passed, at most drain_timeout; without CloudWatch
    access it falls back to the delay with a warning.
    """
    now = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
    result = {"colors": sorted(old), "method": spec.drain_method, "waited": 0, "drained": True, "warnings": [],
              "deregistration_delay": 0}
    if not old:
        result["method"] = "none"
        return result
    delay = max(deregistration_delay(client, group) for group in old.values())
    result["deregistration_delay"] = delay
    budget = min(delay, spec.drain_timeout)
    started = now()
    if spec.drain_method == "request_count" and cloudwatch_factory is not None:
        cloudwatch = cloudwatch_factory()
        window_start = switched_at + datetime.timedelta(seconds=METRIC_PERIOD)
        while True:
            elapsed = (now() - started).total_seconds()
            if (now() - switched_at).total_seconds() >= METRIC_DELAY + METRIC_PERIOD:
                try:
                    counts = {c: _request_count(cloudwatch, target.load_balancer["LoadBalancerArn"],
                                                g["TargetGroupArn"], window_start, now()) for c, g in old.items()}
                except (ClientError, BotoCoreError) as exc:
                    result["warnings"].append(f"CloudWatch RequestCount is not available "
                                              f"({describe_error(exc, 'cloudwatch', 'GetMetricStatistics')}); "
                                              "waited for the deregistration delay instead")
                    result["method"] = "deregistration_delay"
                    break
                result["request_count"] = counts
                if not any(counts.values()):
                    result["waited"] = round(elapsed)
                    return result
            if elapsed >= budget:
                # The deregistration delay has passed (drained), or drain_timeout came first (not known).
                result["waited"] = round(elapsed)
                if delay > spec.drain_timeout:
                    result["drained"] = False
                    result["warnings"].append(f"the old colour may still have requests: drain_timeout="
                                              f"{spec.drain_timeout} passed before a quiet minute or the "
                                              f"deregistration delay ({delay} s)")
                return result
            sleep(min(METRIC_PERIOD / 4, max(1, budget - elapsed)))
    remaining = budget - (now() - started).total_seconds()
    if remaining > 0:
        sleep(remaining)
    result["waited"] = round((now() - started).total_seconds())
    if delay > spec.drain_timeout:
        result["drained"] = False
        result["warnings"].append(f"drain_timeout={spec.drain_timeout} is shorter than the deregistration delay "
                                  f"({delay} s): requests may still be running on {', '.join(sorted(old))}")
    return result


def wait_in_service(client, group: dict, timeout: int) -> None:
    """botocore's ``target_in_service`` waiter over the registered targets, for health_wait_timeout."""
    targets = [item["Target"] for item in call(client, "DescribeTargetHealth", "to wait for healthy targets", None,
                                               TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]]
    if not targets:
        return
    delay = 15 if timeout >= 60 else max(1, timeout // 4)
    try:
        client.get_waiter("target_in_service").wait(TargetGroupArn=group["TargetGroupArn"], Targets=targets,
                                                    WaiterConfig={"Delay": delay,
                                                                  "MaxAttempts": max(1, timeout // delay)})
    except WaiterError as exc:
        if error_code(exc):
            raise aws_error(exc, SERVICE, "DescribeTargetHealth", "to wait for healthy targets") from exc
        # Timed out: the health check that follows names the targets and their reasons.


__all__ = ["apply_preview", "deregistration_delay", "describe_weights", "guarded_write", "wait_drained",
           "wait_in_service"]
