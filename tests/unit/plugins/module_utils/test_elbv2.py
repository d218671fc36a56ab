# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plain-Python logic of the ALB router: validation, normalisation, planning, preview colour, drain, race check."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.botocore import ClientError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import describe_error
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError, SwitchError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2 import apply, plan, spec, state

ACCOUNT = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
BLUE = ACCOUNT + "targetgroup/shop-blue/0123456789abcdef"
GREEN = ACCOUNT + "targetgroup/shop-green/fedcba9876543210"
OLD = ACCOUNT + "targetgroup/shop-old/00000000000000aa"
LISTENER = ACCOUNT + "listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = ACCOUNT + "listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
LB = ACCOUNT + "loadbalancer/app/shop/50dc6c495c0c9188"
GROUPS = {"blue": {"TargetGroupArn": BLUE, "TargetGroupName": "shop-blue"},
          "green": {"TargetGroupArn": GREEN, "TargetGroupName": "shop-green"}}


def params(**overrides):
    base = {"listener_arn": LISTENER, "pools": {"blue": "shop-blue", "green": GREEN}, "active": "green"}
    base.update(overrides)
    return base


# ------------------------------------------------------------------ spec


def test_spec_accepts_names_and_arns():
    parsed = spec.Spec(params())
    assert parsed.pools == {"blue": "shop-blue", "green": GREEN}
    assert parsed.weights is None and parsed.active == "green"
    assert parsed.target_kind == "listener"
    assert spec.Spec(params(listener_arn=None, rule_arn=RULE)).target_kind == "rule"


@pytest.mark.parametrize(("weights", "message"), [
    ({"blue": 1000, "green": 0}, "weights.blue=1000: use an integer from 0 to 999 (ALB target group weights"),
    ({"blue": -1, "green": 1}, "weights.blue=-1"),
    ({"blue": 0, "green": 0}, "all 0"),
    ({"red": 1}, "'red' is not a colour in pools"),
])
def test_weights_are_checked_locally(weights, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        spec.Spec(params(active=None, weights=weights))


@pytest.mark.parametrize(("pools", "message"), [
    ({"blue": "shop-blue"}, "at least two colours"),
    ({f"c{i}": f"tg-{i}" for i in range(6)}, "at most 5 target groups"),
    ({"blue": "shop-blue", "green": "shop-blue"}, "each colour needs its own"),
    ({"blue": "shop blue", "green": "x"}, "pools.blue='shop blue'"),
    ({"blue": "-bad", "green": "x"}, "pools.blue='-bad'"),
    ({"blue-1": "a", "green": "b"}, "pools colour='blue-1'"),
])
def test_pools_are_checked(pools, message):
    with pytest.raises(InputError, match=message):
        spec.check_pools(pools)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"listener_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/net/x/1/2"}, "Network Load"),
    ({"listener_arn": "listener/app/x"}, "is not an ELBv2 listener ARN"),
    ({"listener_arn": None, "rule_arn": LISTENER}, "is not an ELBv2 listener-rule ARN"),
    ({"listener_arn": None, "load_balancer_name": "shop_1", "listener_port": 80}, "load_balancer_name='shop_1'"),
    ({"listener_arn": None, "load_balancer_name": "shop", "listener_port": 70000}, "listener_port=70000"),
    ({"rule_priority": 0}, "rule_priority=0"),
    ({"stickiness": {"enabled": True, "duration": 604801}}, "stickiness.duration=604801"),
    ({"stickiness": {"enabled": True, "duration": None}}, "stickiness.duration=None"),
    ({"preview": {"rule_priority": 10, "header_name": "X Preview", "header_values": ["1"]}}, "preview.header_name"),
    ({"preview": {"rule_priority": 10, "header_name": "X-Preview", "header_values": []}}, "preview.header_values"),
    ({"preview": {"listener_port": 8080, "color": "red"}}, "preview.color='red'"),
    ({"health_wait_timeout": -1}, "health_wait_timeout=-1"),
])
def test_selection_and_options_are_checked(overrides, message):
    with pytest.raises(InputError, match=message):
        spec.Spec(params(**overrides))


def test_stickiness_is_normalised():
    assert spec.check_stickiness(None) is None
    assert spec.check_stickiness({"enabled": False, "duration": 30}) == {"enabled": False}
    assert spec.check_stickiness({"enabled": True, "duration": 30}) == {"enabled": True, "duration": 30}


def test_info_spec_needs_no_traffic():
    parsed = spec.Spec({"listener_arn": LISTENER, "pools": None}, need_traffic=False)
    assert parsed.pools == {} and parsed.weights is None


# ------------------------------------------------------------------ normalised state


def test_forward_view_reads_both_spellings_alike():
    plain = {"Type": "forward", "TargetGroupArn": BLUE}
    both = {"Type": "forward", "TargetGroupArn": BLUE,
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 1}],
                              "TargetGroupStickinessConfig": {"Enabled": False}}}
    assert state.forward_view(plain)["weights"] == state.forward_view(both)["weights"] == {BLUE: 1}
    assert state.normalise_action(plain) == state.normalise_action(both)


def test_normalised_ignores_order_of_target_groups_and_oidc_secret():
    first = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": BLUE, "Weight": 0}, {"TargetGroupArn": GREEN, "Weight": 1}]}}
    second = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": GREEN, "Weight": 1}, {"TargetGroupArn": BLUE, "Weight": 0}]}}
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"ClientId": "x"}}
    oidc_written = {"Type": "authenticate-oidc", "Order": 1,
                    "AuthenticateOidcConfig": {"ClientId": "x", "UseExistingClientSecret": True}}
    assert state.normalise_actions([oidc, {**first, "Order": 2}]) == \
        state.normalise_actions([oidc_written, {**second, "Order": 2}])
    # A different weight is a difference.
    third = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": BLUE, "Weight": 1}, {"TargetGroupArn": GREEN, "Weight": 1}]}}
    assert state.normalise_actions([first]) != state.normalise_actions([third])


def test_listener_view_compares_certificates():
    listener = {"Port": 443, "Protocol": "HTTPS", "Certificates": [{"CertificateArn": "a"}], "DefaultActions": []}
    other = {**listener, "Certificates": [{"CertificateArn": "b"}]}
    assert state.normalised(listener, "listener") != state.normalised(other, "listener")


def test_public_actions_mask_the_oidc_secret():
    actions = [{"Type": "authenticate-oidc", "AuthenticateOidcConfig": {"ClientSecret": "s3cret"}}]
    assert "s3cret" not in repr(state.public_actions(actions))
    assert actions[0]["AuthenticateOidcConfig"]["ClientSecret"] == "s3cret"


def test_unhealthy_refusal_names_targets_and_reasons():
    rows = [{"target": "i-1:80", "state": "unhealthy", "reason": "Target.FailedHealthChecks",
             "description": "Health checks failed"},
            {"target": "i-2:80", "state": "draining", "reason": "Target.DeregistrationInProgress",
             "description": "Target deregistration is in progress"}]
    with pytest.raises(SwitchError) as raised:
        state.refuse_unhealthy("green", GROUPS["green"], rows, "on blue")
    message = str(raised.value)
    assert "i-1:80 unhealthy (Target.FailedHealthChecks" in message and "i-2:80 draining" in message
    assert "traffic stays on blue" in message and raised.value.details["changed"] is False
    with pytest.raises(SwitchError, match="no target is registered"):
        state.refuse_unhealthy("green", GROUPS["green"], [], "on blue")
    state.refuse_unhealthy("green", GROUPS["green"], [{**rows[0], "state": "healthy"}], "on blue")


# ------------------------------------------------------------------ plan


class FakeTarget:
    def __init__(self, actions):
        self.actions = actions

    def describe(self):
        return "listener HTTP:80 of shop"


def test_active_keeps_the_weight_of_a_sole_live_colour():
    target = FakeTarget([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": BLUE, "Weight": 0}, {"TargetGroupArn": GREEN, "Weight": 7}]}}])
    result = plan.plan(spec.Spec(params()), target, GROUPS)
    assert result.changed is False and result.weights == {"blue": 0, "green": 7}
    moved = plan.plan(spec.Spec(params(active="blue")), target, GROUPS)
    assert moved.changed and moved.weights == {"blue": 1, "green": 0}
    assert moved.previous_active == "green" and moved.active == "blue"


def test_plan_keeps_other_actions_and_their_order():
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"ClientId": "x"}}
    target = FakeTarget([oidc, {"Type": "forward", "Order": 2, "TargetGroupArn": BLUE}])
    result = plan.plan(spec.Spec(params()), target, GROUPS)
    assert result.actions[0]["AuthenticateOidcConfig"] == {"ClientId": "x", "UseExistingClientSecret": True}
    assert result.actions[1]["Order"] == 2
    assert result.actions[1]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": BLUE, "Weight": 0}, {"TargetGroupArn": GREEN, "Weight": 1}]
    # The input is not modified.
    assert "UseExistingClientSecret" not in oidc["AuthenticateOidcConfig"]


def test_plan_refuses_no_forward_and_foreign_groups():
    with pytest.raises(InputError, match=r"has no forward action \(fixed-response\)"):
        plan.plan(spec.Spec(params()), FakeTarget([{"Type": "fixed-response"}]), GROUPS)
    foreign = FakeTarget([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": BLUE, "Weight": 1}, {"TargetGroupArn": OLD, "Weight": 1}]}}])
    with pytest.raises(InputError, match="force=true"):
        plan.plan(spec.Spec(params()), foreign, GROUPS)
    forced = plan.plan(spec.Spec(params(force=True)), foreign, GROUPS)
    assert forced.foreign == [OLD] and forced.changed


def test_stickiness_change_alone_is_a_change():
    target = FakeTarget([{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 0}, {"TargetGroupArn": GREEN, "Weight": 1}],
        "TargetGroupStickinessConfig": {"Enabled": False}}}])
    assert plan.plan(spec.Spec(params()), target, GROUPS).changed is False
    assert plan.plan(spec.Spec(params(stickiness={"enabled": False})), target, GROUPS).changed is False
    sticky = plan.plan(spec.Spec(params(stickiness={"enabled": True, "duration": 60})), target, GROUPS)
    assert sticky.changed
    assert sticky.actions[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": True,
                                                                                 "DurationSeconds": 60}


def test_preview_colour():
    parsed = spec.Spec(params(preview={"listener_port": 8080}))
    assert plan.preview_colour(parsed, {"blue": 0, "green": 1}) == "blue"
    with pytest.raises(InputError, match=r"preview\.color is needed"):
        plan.preview_colour(parsed, {"blue": 5, "green": 5})
    chosen = spec.Spec(params(preview={"listener_port": 8080, "color": "green"}))
    assert plan.preview_colour(chosen, {"blue": 5, "green": 5}) == "green"


# ------------------------------------------------------------------ guarded write (fake client)


class FakeElb:
    """describe_listeners answers from a list of states; modify_listener records the call."""

    def __init__(self, reads, fail=None):
        self.reads = list(reads)
        self.modified = []
        self.fail = fail

    def describe_listeners(self, ListenerArns):  # noqa: N803 - boto3's argument name
        return {"Listeners": [self.reads.pop(0)]}

    def modify_listener(self, ListenerArn, DefaultActions):  # noqa: N803 - boto3's argument name
        self.modified.append(DefaultActions)
        if self.fail is not None:
            raise self.fail


def listener_with(weights):
    return {"ListenerArn": LISTENER, "Port": 80, "Protocol": "HTTP", "DefaultActions": [
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": arn, "Weight": w} for arn, w in weights.items()]}}]}


NEW = listener_with({BLUE: 0, GREEN: 1})["DefaultActions"]
COLOURS = {BLUE: "blue", GREEN: "green"}


def test_guarded_write_success():
    before = listener_with({BLUE: 1, GREEN: 0})
    client = FakeElb([before, listener_with({BLUE: 0, GREEN: 1})])
    assert apply.guarded_write(client, "listener", before, NEW, colour_of=COLOURS, what="listener") == []
    assert client.modified == [NEW]


def test_guarded_write_detects_a_change_before_the_write():
    before = listener_with({BLUE: 1, GREEN: 0})
    client = FakeElb([listener_with({BLUE: 5, GREEN: 5})])
    with pytest.raises(SwitchError, match="Nothing was written") as raised:
        apply.guarded_write(client, "listener", before, NEW, colour_of=COLOURS, what="listener")
    assert client.modified == [] and raised.value.details == {"changed": False, "race": True}


def test_guarded_write_detects_a_change_after_the_write():
    before = listener_with({BLUE: 1, GREEN: 0})
    client = FakeElb([before, listener_with({BLUE: 1})])
    with pytest.raises(SwitchError, match="another writer changed it") as raised:
        apply.guarded_write(client, "listener", before, NEW, colour_of=COLOURS, what="listener")
    assert raised.value.details["race"] is True and raised.value.details["changed"] is True
    assert "forward blue=1" in str(raised.value)


def _client_error(code, status):
    return ClientError({"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "ModifyListener")


def test_guarded_write_after_an_error_reads_back():
    before = listener_with({BLUE: 1, GREEN: 0})
    denied = FakeElb([before, before], fail=_client_error("AccessDenied", 403))
    with pytest.raises(SwitchError, match="elasticloadbalancing:ModifyListener") as raised:
        apply.guarded_write(denied, "listener", before, NEW, colour_of=COLOURS, what="listener")
    assert raised.value.details["changed"] is False and "is unchanged" in str(raised.value)
    # An error answer whose change was applied anyway (a lost answer): success with a warning.
    lost = FakeElb([before, listener_with({BLUE: 0, GREEN: 1})], fail=_client_error("InternalFailure", 500))
    warnings = apply.guarded_write(lost, "listener", before, NEW, colour_of=COLOURS, what="listener")
    assert len(warnings) == 1 and "matches this request" in warnings[0]


def test_access_denied_names_the_elbv2_permission():
    text = describe_error(_client_error("AccessDenied", 403), spec.SERVICE, "ModifyListener", "to switch")
    assert "elasticloadbalancing:ModifyListener" in text


# ------------------------------------------------------------------ drained (fake clock, no real waiting)


class Clock:
    def __init__(self):
        self.moment = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
        self.slept = []

    def now(self):
        return self.moment

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.moment += datetime.timedelta(seconds=seconds)


class AttributesElb:
    def __init__(self, delay):
        self.delay = delay

    def describe_target_group_attributes(self, TargetGroupArn):  # noqa: N803 - boto3's argument name
        return {"Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": str(self.delay)}]}


class FakeCloudWatch:
    def __init__(self, sums=None, error=None, clock=None):
        self.sums = list(sums or [])
        self.error = error
        self.clock = clock
        self.calls = []
        self.asked_at = []

    def get_metric_statistics(self, **kwargs):
        self.calls.append(kwargs)
        if self.clock is not None:
            self.asked_at.append(self.clock.now())
        if self.error is not None:
            raise self.error
        value = self.sums.pop(0) if self.sums else 0
        return {"Datapoints": [{"Sum": value}] if value else []}


class FakeBalancer:
    def __init__(self):
        self.load_balancer = {"LoadBalancerArn": LB}


def drain_spec(**overrides):
    return spec.Spec(params(drained=True, drain_timeout=overrides.pop("drain_timeout", 900), **overrides))


def test_drain_waits_the_deregistration_delay():
    clock = Clock()
    result = apply.wait_drained(AttributesElb(30), drain_spec(), FakeBalancer(), {"blue": GROUPS["blue"]},
                                clock.now(), sleep=clock.sleep, now=clock.now)
    assert result["deregistration_delay"] == 30 and result["waited"] == 30 and result["drained"] is True


def test_drain_timeout_shorter_than_the_delay_is_reported():
    clock = Clock()
    result = apply.wait_drained(AttributesElb(300), drain_spec(drain_timeout=10), FakeBalancer(),
                                {"blue": GROUPS["blue"]}, clock.now(), sleep=clock.sleep, now=clock.now)
    assert result["drained"] is False and result["waited"] == 10
    assert "drain_timeout=10" in result["warnings"][0]


def test_drain_by_request_count_until_a_quiet_minute():
    clock = Clock()
    cloudwatch = FakeCloudWatch(sums=[12, 3, 0], clock=clock)
    switched_at = clock.now()
    result = apply.wait_drained(AttributesElb(300), drain_spec(drain_method="request_count"), FakeBalancer(),
                                {"blue": GROUPS["blue"]}, switched_at, cloudwatch_factory=lambda: cloudwatch,
                                sleep=clock.sleep, now=clock.now)
    assert result["drained"] is True and result["request_count"] == {"blue": 0}
    assert len(cloudwatch.calls) == 3
    dimensions = {d["Name"]: d["Value"] for d in cloudwatch.calls[0]["Dimensions"]}
    assert dimensions == {"TargetGroup": "targetgroup/shop-blue/0123456789abcdef",
                          "LoadBalancer": "app/shop/50dc6c495c0c9188"}
    # No metric is asked for before a whole minute after the switch can have been published.
    first = (cloudwatch.asked_at[0] - switched_at).total_seconds()
    assert first >= apply.METRIC_DELAY + apply.METRIC_PERIOD
    # The window starts a minute after the switch (requests already running at the switch are not counted).
    assert cloudwatch.calls[0]["StartTime"] == switched_at + datetime.timedelta(seconds=apply.METRIC_PERIOD)


def test_drain_by_request_count_falls_back_without_cloudwatch_access():
    clock = Clock()
    denied = FakeCloudWatch(error=ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}},
                                              "GetMetricStatistics"))
    result = apply.wait_drained(AttributesElb(200), drain_spec(drain_method="request_count"), FakeBalancer(),
                                {"blue": GROUPS["blue"]}, clock.now(), cloudwatch_factory=lambda: denied,
                                sleep=clock.sleep, now=clock.now)
    assert result["method"] == "deregistration_delay"
    assert "cloudwatch:GetMetricStatistics" in result["warnings"][0]
    assert result["waited"] == 200


def test_nothing_to_drain():
    result = apply.wait_drained(None, drain_spec(), FakeBalancer(), {}, None)
    assert result["method"] == "none" and result["colors"] == []


def test_drain_by_request_count_ends_when_the_delay_has_passed():
    clock = Clock()
    cloudwatch = FakeCloudWatch(clock=clock)
    result = apply.wait_drained(AttributesElb(60), drain_spec(drain_method="request_count"), FakeBalancer(),
                                {"blue": GROUPS["blue"]}, clock.now(), cloudwatch_factory=lambda: cloudwatch,
                                sleep=clock.sleep, now=clock.now)
    # 60 s is before any minute can be published: the delay decides, and it counts as drained.
    assert result["drained"] is True and result["waited"] == 60 and cloudwatch.calls == []


def test_drain_by_request_count_busy_until_drain_timeout():
    clock = Clock()
    cloudwatch = FakeCloudWatch(sums=[5] * 50, clock=clock)
    result = apply.wait_drained(AttributesElb(300), drain_spec(drain_method="request_count", drain_timeout=240),
                                FakeBalancer(), {"blue": GROUPS["blue"]}, clock.now(),
                                cloudwatch_factory=lambda: cloudwatch, sleep=clock.sleep, now=clock.now)
    assert result["drained"] is False and result["waited"] == 240
    assert result["request_count"] == {"blue": 5} and "drain_timeout=240" in result["warnings"][0]


# ------------------------------------------------------------------ target groups against the load balancer


class TargetGroupsElb:
    def __init__(self, groups):
        self.groups = groups

    def describe_target_groups(self, Names=None, TargetGroupArns=None):  # noqa: N803 - boto3's argument names
        refs = Names or TargetGroupArns
        found = [g for g in self.groups if g["TargetGroupName"] in refs or g["TargetGroupArn"] in refs]
        if len(found) < len(refs):
            raise ClientError({"Error": {"Code": "TargetGroupNotFound", "Message": "One or more target groups not "
                                                                                   "found"}}, "DescribeTargetGroups")
        return {"TargetGroups": found}


BALANCER = {"LoadBalancerArn": LB, "LoadBalancerName": "shop", "VpcId": "vpc-1"}


def group(name, arn, **extra):
    return {"TargetGroupName": name, "TargetGroupArn": arn, "VpcId": "vpc-1", "Protocol": "HTTP",
            "TargetType": "instance", "LoadBalancerArns": [LB], **extra}


def test_resolve_target_groups_by_name_and_arn():
    client = TargetGroupsElb([group("shop-blue", BLUE), group("shop-green", GREEN)])
    groups = state.resolve_target_groups(client, {"blue": "shop-blue", "green": GREEN}, BALANCER)
    assert groups["blue"]["TargetGroupArn"] == BLUE and groups["green"]["TargetGroupName"] == "shop-green"


@pytest.mark.parametrize(("green", "message"), [
    (group("shop-green", GREEN, VpcId="vpc-2"), "is in vpc-2, load balancer shop in vpc-1"),
    (group("shop-green", GREEN, LoadBalancerArns=[LB + "0"]), "already used by load balancer"),
    (group("shop-green", GREEN, Protocol="TCP"), "uses protocol TCP"),
])
def test_resolve_target_groups_refuses_what_aws_refuses(green, message):
    client = TargetGroupsElb([group("shop-blue", BLUE), green])
    with pytest.raises(InputError, match=message):
        state.resolve_target_groups(client, {"blue": "shop-blue", "green": "shop-green"}, BALANCER)


def test_resolve_target_groups_names_the_missing_one():
    client = TargetGroupsElb([group("shop-blue", BLUE)])
    with pytest.raises(InputError, match=r"pools\.green: target group 'shop-grene' not found") as raised:
        state.resolve_target_groups(client, {"blue": "shop-blue", "green": "shop-grene"}, BALANCER)
    assert raised.value.details["missing"] == ["shop-grene"]
    lambda_group = group("fn", GREEN, Protocol=None, TargetType="lambda", VpcId=None)
    resolved = state.resolve_target_groups(TargetGroupsElb([group("shop-blue", BLUE), lambda_group]),
                                           {"blue": "shop-blue", "green": "fn"}, BALANCER)
    assert resolved["green"]["TargetType"] == "lambda"
