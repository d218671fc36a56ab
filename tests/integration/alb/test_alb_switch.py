# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""alb_switch / alb_switch_info run as Ansible runs them, against moto_server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import copy

POOLS = {"blue": "shop-blue", "green": "shop-green"}


def args(alb, **overrides):
    base = {"load_balancer_name": "shop", "listener_port": 80, "pools": POOLS, "active": "green", **alb.conn}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def modifies(result) -> int:
    calls = result["api_calls"]["by_operation"]
    return calls.get("ModifyListener", 0) + calls.get("ModifyRule", 0) + calls.get("CreateRule", 0)


def test_switch_then_idempotent_rerun(alb, run_module):
    first = run_module("alb_switch", args(alb))
    assert not first.failed, first
    assert first["changed"] is True
    assert first["previous_active"] == "blue" and first["active"] == "green"
    assert first["previous_weights"] == {"blue": 1, "green": 0}
    assert first["weights"] == {"blue": 0, "green": 1}
    assert first["health"]["green"]["healthy"] == 1
    # One write: the whole forward action in one ModifyListener.
    assert first["api_calls"]["by_operation"]["ModifyListener"] == 1
    assert alb.listener_weights(alb.http) == {"blue": 0, "green": 1}

    again = run_module("alb_switch", args(alb))
    assert not again.failed, again
    assert again["changed"] is False
    assert modifies(again) == 0
    assert again["previous_active"] == "green" and again["active"] == "green"

    back = run_module("alb_switch", args(alb, active="blue"))
    assert back["changed"] is True and back["weights"] == {"blue": 1, "green": 0}
    assert alb.listener_weights(alb.http) == {"blue": 1, "green": 0}


def test_weights_split_and_stickiness_in_one_call(alb, run_module):
    result = run_module("alb_switch", args(alb, active=None, weights={"blue": 900, "green": 99},
                                           stickiness={"enabled": True, "duration": 600}))
    assert not result.failed, result
    assert result["changed"] is True and result["active"] is None
    assert result["stickiness"] == {"enabled": True, "duration": 600}
    assert result["previous_stickiness"] is None
    assert modifies(result) == 1
    listener = alb.read_listener(alb.http)
    assert alb.weights(listener["DefaultActions"]) == {"blue": 900, "green": 99}
    config = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"]
    assert config == {"Enabled": True, "DurationSeconds": 600}
    # Both colours needed health: both get traffic.
    assert sorted(result["health"]) == ["blue", "green"]

    again = run_module("alb_switch", args(alb, active=None, weights={"blue": 900, "green": 99},
                                          stickiness={"enabled": True, "duration": 600}))
    assert again["changed"] is False and modifies(again) == 0
    # Without the stickiness option the current setting is kept, so that is no change either.
    kept = run_module("alb_switch", args(alb, active=None, weights={"blue": 900, "green": 99}))
    assert kept["changed"] is False and kept["stickiness"] == {"enabled": True, "duration": 600}
    # A different duration is a change.
    longer = run_module("alb_switch", args(alb, active=None, weights={"blue": 900, "green": 99},
                                           stickiness={"enabled": True, "duration": 3600}), check_mode=True)
    assert longer["changed"] is True


def test_check_mode_and_diff_change_nothing(alb, run_module):
    before = alb.read_listener(alb.http)
    result = run_module("alb_switch", args(alb), check_mode=True, diff=True)
    assert not result.failed, result
    assert result["changed"] is True
    assert result["diff"]["before"]["weights"] == {"blue": 1, "green": 0}
    assert result["diff"]["after"]["weights"] == {"blue": 0, "green": 1}
    assert modifies(result) == 0
    assert alb.read_listener(alb.http) == before
    forward = result["actions_after"][0]["ForwardConfig"]["TargetGroups"]
    assert {g["TargetGroupArn"]: g["Weight"] for g in forward} == {alb.tg["blue"]: 0, alb.tg["green"]: 1}


def test_rule_by_priority_and_by_arn_leave_the_listener_alone(alb, run_module):
    listener_before = alb.read_listener(alb.http)
    rule_before = alb.read_rule(alb.rule)
    result = run_module("alb_switch", args(alb, rule_priority=5))
    assert not result.failed, result
    assert result["changed"] is True and result["target"]["kind"] == "rule"
    assert result["target"]["rule_arn"] == alb.rule
    assert result["api_calls"]["by_operation"].get("ModifyRule") == 1
    assert "ModifyListener" not in result["api_calls"]["by_operation"]
    rule_after = alb.read_rule(alb.rule)
    assert alb.weights(rule_after["Actions"]) == {"blue": 0, "green": 1}
    assert rule_after["Conditions"] == rule_before["Conditions"]
    assert rule_after["Priority"] == rule_before["Priority"]
    assert alb.read_listener(alb.http) == listener_before

    by_arn = run_module("alb_switch", {**args(alb, load_balancer_name=None, listener_port=None), "rule_arn": alb.rule})
    assert not by_arn.failed, by_arn
    assert by_arn["changed"] is False and by_arn["active"] == "green"


def test_everything_else_on_the_listener_is_kept(alb, run_module):
    before = alb.read_listener(alb.https)
    result = run_module("alb_switch", args(alb, listener_port=443))
    assert not result.failed, result
    assert result["changed"] is True
    after = alb.read_listener(alb.https)
    for key in ("Port", "Protocol", "Certificates", "SslPolicy", "AlpnPolicy"):
        assert after.get(key) == before.get(key), key
    # The authenticate-oidc action before the forward compares equal, its Order included.
    assert after["DefaultActions"][0] == before["DefaultActions"][0]
    assert after["DefaultActions"][1]["Order"] == 2
    assert alb.weights(after["DefaultActions"]) == {"blue": 0, "green": 1}
    # The emulator returns the OIDC client secret (AWS does not): the task result must not show it.
    assert "not-a-real-secret" not in repr(result)
    again = run_module("alb_switch", args(alb, listener_port=443))
    assert again["changed"] is False and modifies(again) == 0


def test_preview_rule_created_and_follows_the_idle_colour(alb, run_module):
    preview = {"rule_priority": 10, "header_name": "X-Preview", "header_values": ["1"]}
    first = run_module("alb_switch", args(alb, active="blue", preview=preview))
    assert not first.failed, first
    assert first["changed"] is True
    assert first["preview"]["created"] is True and first["preview"]["color"] == "green"
    rule = next(r for r in alb.elb.describe_rules(ListenerArn=alb.http)["Rules"] if r["Priority"] == "10")
    assert rule["Conditions"][0]["HttpHeaderConfig"] == {"HttpHeaderName": "X-Preview", "Values": ["1"]}
    assert alb.weights(rule["Actions"]) == {"green": 1}
    # Traffic was already on blue; the one listener write attaches green with weight 0 (health-checked).
    assert first["api_calls"]["by_operation"]["ModifyListener"] == 1
    assert alb.listener_weights(alb.http) == {"blue": 1, "green": 0}

    switched = run_module("alb_switch", args(alb, active="green", preview=preview))
    assert switched["changed"] is True and switched["preview"]["color"] == "blue"
    assert switched["preview"]["created"] is False
    rule = alb.read_rule(rule["RuleArn"])
    assert alb.weights(rule["Actions"]) == {"blue": 1}
    assert alb.listener_weights(alb.http) == {"blue": 0, "green": 1}

    again = run_module("alb_switch", args(alb, active="green", preview=preview))
    assert again["changed"] is False and modifies(again) == 0


def test_preview_test_listener(alb, run_module):
    result = run_module("alb_switch", args(alb, preview={"listener_port": 8080}))
    assert not result.failed, result
    assert result["preview"]["kind"] == "listener" and result["preview"]["color"] == "blue"
    assert alb.listener_weights(alb.test_listener) == {"blue": 1}
    assert alb.listener_weights(alb.http) == {"blue": 0, "green": 1}


def test_drained_waits_for_the_deregistration_delay(alb, run_module):
    alb.elb.modify_target_group_attributes(
        TargetGroupArn=alb.tg["blue"], Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
    result = run_module("alb_switch", args(alb, drained=True))
    assert not result.failed, result
    assert result["drain"]["colors"] == ["blue"]
    assert result["drain"]["method"] == "deregistration_delay"
    assert result["drain"]["deregistration_delay"] == 1
    assert result["drain"]["drained"] is True
    # A re-run switches nothing, so there is nothing to drain.
    again = run_module("alb_switch", args(alb, drained=True))
    assert again["changed"] is False and again["drain"] is None


def test_drained_shorter_timeout_is_reported(alb, run_module):
    result = run_module("alb_switch", args(alb, drained=True, drain_timeout=0))
    assert not result.failed, result
    assert result["drain"]["deregistration_delay"] == 300
    assert result["drain"]["drained"] is False
    # ansible-core 2.19 returns warnings as structured events: look for the text in them.
    assert "drain_timeout=0 is shorter than the deregistration delay" in repr(result.get("warnings"))


def test_info_reports_colours_and_health(alb, run_module):
    info = run_module("alb_switch_info", {"load_balancer_name": "shop", "listener_port": 80, "pools": POOLS,
                                          "health": True, **alb.conn})
    assert not info.failed, info
    assert info["active"] == "blue" and info["weights"] == {"blue": 1, "green": 0}
    assert info["managed"] is True
    assert info["health"]["green"]["healthy"] == 1
    assert "ModifyListener" not in info["api_calls"]["by_operation"]
    plain = run_module("alb_switch_info", {"listener_arn": alb.https, **alb.conn})
    assert plain["weights"] is None and plain["forward"] == [{"arn": alb.tg["blue"], "weight": 1, "color": None}]
    assert "not-a-real-secret" not in repr(plain)


# ---------------------------------------------------------------- bad inputs: clear error, nothing changed


def assert_unchanged(alb, before_http, before_rule):
    assert alb.read_listener(alb.http) == before_http
    assert alb.read_rule(alb.rule) == before_rule


def snapshot(alb):
    return copy.deepcopy(alb.read_listener(alb.http)), copy.deepcopy(alb.read_rule(alb.rule))


def test_unknown_target_group(alb, run_module):
    before = snapshot(alb)
    result = run_module("alb_switch", args(alb, pools={"blue": "shop-blue", "green": "shop-grene"}))
    assert result.failed
    assert "pools.green: target group 'shop-grene' not found" in result["msg"]
    assert result["changed"] is False and modifies(result) == 0
    assert_unchanged(alb, *before)


def test_weight_out_of_range_is_refused_before_any_call(alb, run_module):
    before = snapshot(alb)
    result = run_module("alb_switch", args(alb, active=None, weights={"blue": 1000, "green": 0}))
    assert result.failed
    assert "weights.blue=1000" in result["msg"] and "0-999" in result["msg"]
    assert result["api_calls"]["total"] == 0
    assert_unchanged(alb, *before)


def test_listener_that_does_not_exist(alb, run_module):
    before = snapshot(alb)
    missing = run_module("alb_switch", args(alb, listener_port=9999))
    assert missing.failed and "listener_port=9999" in missing["msg"] and "80, 443, 8080" in missing["msg"]
    gone = alb.http[:-4] + "beef"
    by_arn = run_module("alb_switch", {**args(alb, load_balancer_name=None, listener_port=None), "listener_arn": gone})
    assert by_arn.failed and "does not exist" in by_arn["msg"] and "listener_arn" in by_arn["msg"]
    no_lb = run_module("alb_switch", args(alb, load_balancer_name="nope"))
    assert no_lb.failed and "load balancer nope not found" in no_lb["msg"]
    assert_unchanged(alb, *before)


def test_target_group_in_another_vpc(alb, run_module):
    before = snapshot(alb)
    other_vpc = alb.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    alb.target_group("elsewhere", vpc=other_vpc)
    result = run_module("alb_switch", args(alb, pools={"blue": "shop-blue", "green": "elsewhere"}))
    assert result.failed
    assert "pools.green" in result["msg"] and other_vpc in result["msg"] and "own VPC" in result["msg"]
    assert modifies(result) == 0
    assert_unchanged(alb, *before)


def test_missing_permission(alb, run_module):
    before = snapshot(alb)
    alb.proxy.denied.add("ModifyListener")
    result = run_module("alb_switch", args(alb))
    assert result.failed
    assert "elasticloadbalancing:ModifyListener" in result["msg"]
    assert "unchanged" in result["msg"]
    assert result["changed"] is False
    assert_unchanged(alb, *before)
    alb.proxy.denied = {"DescribeTargetHealth"}
    alb.proxy.seen.clear()
    denied_read = run_module("alb_switch", args(alb))
    assert denied_read.failed and "elasticloadbalancing:DescribeTargetHealth" in denied_read["msg"]
    assert "ModifyListener" not in alb.proxy.seen
    assert_unchanged(alb, *before)


def test_failed_switch_after_preview_reports_the_preview_change(alb, run_module):
    alb.proxy.denied.add("ModifyListener")
    preview = {"rule_priority": 10, "header_name": "X-Preview", "header_values": ["1"]}
    result = run_module("alb_switch", args(alb, preview=preview))
    assert result.failed and "elasticloadbalancing:ModifyListener" in result["msg"]
    # Production traffic is unchanged, but the preview rule was created: the task says changed.
    assert alb.listener_weights(alb.http) == {"blue": 1}
    assert result["changed"] is True and result["preview"]["created"] is True


def test_unhealthy_target_colour_is_refused_naming_targets(alb, run_module):
    before = snapshot(alb)
    alb.ec2.stop_instances(InstanceIds=[alb.instances["green"]])
    result = run_module("alb_switch", args(alb))
    assert result.failed
    assert "refusing to send traffic to green" in result["msg"]
    assert alb.instances["green"] in result["msg"] and "Target.InvalidState" in result["msg"]
    assert result["unhealthy_targets"][0]["state"] == "unused"
    assert "traffic stays on blue" in result["msg"]
    assert_unchanged(alb, *before)
    # Weight 0 for the unhealthy colour is allowed: it only stays attached.
    keep = run_module("alb_switch", args(alb, active="blue"))
    assert not keep.failed, keep


def test_health_wait_uses_the_waiter_then_refuses(alb, run_module):
    alb.ec2.stop_instances(InstanceIds=[alb.instances["green"]])
    result = run_module("alb_switch", args(alb, health_wait_timeout=2))
    assert result.failed and "refusing to send traffic to green" in result["msg"]
    # The target_in_service waiter polled DescribeTargetHealth before the final check.
    assert result["api_calls"]["by_operation"]["DescribeTargetHealth"] >= 3
    assert alb.listener_weights(alb.http) == {"blue": 1}


def test_foreign_target_group_needs_force(alb, run_module):
    third = alb.target_group("shop-old")
    alb.elb.modify_listener(ListenerArn=alb.http, DefaultActions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": alb.tg["blue"], "Weight": 1}, {"TargetGroupArn": third, "Weight": 1}]}}])
    refused = run_module("alb_switch", args(alb))
    assert refused.failed and third in refused["msg"] and "force=true" in refused["msg"]
    forced = run_module("alb_switch", args(alb, force=True))
    assert not forced.failed, forced
    assert alb.listener_weights(alb.http) == {"blue": 0, "green": 1}


def test_race_after_the_write_is_reported(alb, run_module):
    def other_writer():
        alb.elb.modify_listener(ListenerArn=alb.http, DefaultActions=[
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": alb.tg["blue"], "Weight": 1}]}}])

    alb.proxy.after["ModifyListener"] = other_writer
    result = run_module("alb_switch", args(alb))
    assert result.failed
    assert result["race"] is True and result["changed"] is True
    assert "another writer" in result["msg"] and "blue=1" in result["msg"]
    assert alb.listener_weights(alb.http) == {"blue": 1}


def test_race_before_the_write_writes_nothing(alb, run_module):
    def other_writer():
        alb.elb.modify_listener(ListenerArn=alb.http, DefaultActions=[
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": alb.tg["blue"], "Weight": 5},
                                                                   {"TargetGroupArn": alb.tg["green"], "Weight": 5}]}}])

    # DescribeTargetHealth runs between the first read and the guard read.
    alb.proxy.after["DescribeTargetHealth"] = other_writer
    result = run_module("alb_switch", args(alb))
    assert result.failed
    assert result["race"] is True and result["changed"] is False
    assert "Nothing was written" in result["msg"]
    assert "ModifyListener" not in alb.proxy.seen
    assert alb.listener_weights(alb.http) == {"blue": 5, "green": 5}
