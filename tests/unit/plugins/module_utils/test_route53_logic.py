# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Normalisation, validation and planning of a Route53 switch, without any AWS client."""

from __future__ import annotations

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import SwitchyardError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53 import change, plan, records, zones
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53 import spec as spec_module

TARGETS = {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20", "192.0.2.21"]}}


def spec(**overrides):
    params = {"zone": "example.com", "record": "api.example.com", "type": "A", "routing": "weighted",
              "targets": TARGETS, "active": "green", "wait": True, "wait_timeout": 300}
    params.update(overrides)
    return spec_module.Spec({k: v for k, v in params.items() if v is not None})


def weighted(colour, weight, values, ttl=60):
    return {"Name": "api.example.com.", "Type": "A", "SetIdentifier": colour, "Weight": weight, "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in values]}


@pytest.mark.parametrize(("given", "expected"), [
    ("API.Example.COM.", "api.example.com"),
    ("\\052.example.com.", "*.example.com"),
    ("api.example.com", "api.example.com"),
])
def test_normalise_name(given, expected):
    assert records.normalise_name(given) == expected


def test_alias_and_zone_id_keys_ignore_aws_presentation():
    assert records.alias_name_key("Blue-LB.elb.amazonaws.com.") == "blue-lb.elb.amazonaws.com"
    # dualstack. is part of the name AWS stores (an AAAA alias needs it): only case and the dot are ignored.
    assert records.alias_name_key("dualstack.Blue-LB.elb.amazonaws.com.") == "dualstack.blue-lb.elb.amazonaws.com"
    assert records.zone_id_key("/hostedzone/z35sxdotrq7x7k") == "Z35SXDOTRQ7X7K"
    assert records.value_key("AAAA", "2001:DB8:0:0::0001") == "2001:db8::1"


def test_idempotency_key_ignores_value_order_but_not_ttl_or_weight():
    a = weighted("green", 100, ["192.0.2.20", "192.0.2.21"])
    assert records.rrset_key(a) == records.rrset_key(weighted("green", 100, ["192.0.2.21", "192.0.2.20"]))
    assert records.rrset_key(a) != records.rrset_key(weighted("green", 100, ["192.0.2.20", "192.0.2.21"], ttl=300))
    assert records.rrset_key(a) != records.rrset_key(weighted("green", 0, ["192.0.2.20", "192.0.2.21"]))


def test_weighted_shift_is_one_batch_with_every_weight():
    s = spec(active=None, weights={"blue": 50, "green": 50})
    state = plan.classify(s, [weighted("blue", 100, ["192.0.2.10"]),
                              weighted("green", 0, ["192.0.2.20", "192.0.2.21"])])
    assert state.routing == "weighted" and state.active == "blue"
    _desired, weights, changes = plan.plan(s, state)
    assert weights == {"blue": 50, "green": 50}
    # Guarded: every current set deleted exactly as read, every wanted set created; no blind UPSERT.
    assert [(c["Action"], c["ResourceRecordSet"]["SetIdentifier"], c["ResourceRecordSet"]["Weight"]) for c in changes] \
        == [("DELETE", "blue", 100), ("DELETE", "green", 0), ("CREATE", "blue", 50), ("CREATE", "green", 50)]
    assert plan.sole_active(weights) is None


def test_conversion_deletes_old_sets_exactly_as_read():
    s = spec(routing="simple", active="green")
    old = [weighted("blue", 100, ["192.0.2.10"]), weighted("green", 0, ["192.0.2.20", "192.0.2.21"])]
    _desired, weights, changes = plan.plan(s, plan.classify(s, old))
    assert weights is None
    assert [c["Action"] for c in changes] == ["DELETE", "DELETE", "CREATE"]
    assert [c["ResourceRecordSet"] for c in changes[:2]] == old
    assert "SetIdentifier" not in changes[2]["ResourceRecordSet"]


def test_health_check_id_is_kept():
    s = spec()
    blue = {**weighted("blue", 100, ["192.0.2.10"]), "HealthCheckId": "hc-1"}
    desired, _w, changes = plan.plan(s, plan.classify(s, [blue]))
    assert {d["SetIdentifier"]: d.get("HealthCheckId") for d in desired} == {"blue": "hc-1", "green": None}
    assert [c["Action"] for c in changes] == ["DELETE", "CREATE", "CREATE"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"record": "api.example.org"}, "outside zone"),
    ({"type": "CNAME", "record": "example.com",
      "targets": {"blue": {"values": ["a.example.net"]}, "green": {"values": ["b.example.net"]}}}, "zone apex"),
    ({"active": None, "weights": {"blue": "256", "green": 0}}, "0-255"),
    ({"active": None, "weights": {"blue": True, "green": 0}}, "integer"),
    ({"active": None, "weights": {"blue": 1, "green": 0, "red": 3}}, "not in targets: red"),
    ({"targets": {"blue": {"values": "192.0.2.1", "extra": 1}, "green": TARGETS["green"]}}, "unknown keys extra"),
    ({"targets": {"blue": {"alias": {"dns_name": "api.example.com", "hosted_zone_id": "Z1"}},
                  "green": TARGETS["green"]}}, "points at the record itself"),
    ({"targets": {"blue": {"alias": {"dns_name": "lb.example.net", "hosted_zone_id": "bad id!"}},
                  "green": TARGETS["green"]}}, "not a hosted zone id"),
    ({"targets": {"blue": {"values": []}, "green": TARGETS["green"]}}, "non-empty list"),
    ({"targets": {}}, "targets must map"),
    ({"wait_timeout": 0}, "wait_timeout"),
    ({"record": "a*.example.com"}, "wildcard"),
])
def test_validation(overrides, message):
    with pytest.raises(SwitchyardError, match=message):
        spec(**overrides)


def test_wildcard_record_is_allowed():
    assert spec(record="*.example.com").record == "*.example.com"


def test_classify_reports_instead_of_raising_for_info():
    s = spec()
    foreign = weighted("red", 5, ["192.0.2.99"])
    with pytest.raises(SwitchyardError, match="red"):
        plan.classify(s, [foreign])
    state = plan.classify(s, [foreign], strict=False)
    assert state.routing == "unmanaged" and "red" in state.problem


# ------------------------------------------------------------------ issue 15: guarded batches, conversions, limits


def test_unchanged_set_is_guarded_too():
    """From 100/100 two opposite runs each change a different set; the unchanged one must be guarded as well."""
    s = spec(active=None, weights={"blue": 100, "green": 0})
    current = [weighted("blue", 100, ["192.0.2.10"]), weighted("green", 100, ["192.0.2.20", "192.0.2.21"])]
    _desired, _weights, changes = plan.plan(s, plan.classify(s, current))
    deleted = [c["ResourceRecordSet"] for c in changes if c["Action"] == "DELETE"]
    assert deleted == current  # blue (unchanged) is deleted as read and created again identically
    created = {c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"]["Weight"]
               for c in changes if c["Action"] == "CREATE"}
    assert created == {"blue": 100, "green": 0}
    assert "UPSERT" not in {c["Action"] for c in changes}


def test_idempotent_run_sends_nothing():
    s = spec()
    current = [weighted("blue", 0, ["192.0.2.10"]), weighted("green", 100, ["192.0.2.21", "192.0.2.20"])]
    assert plan.plan(s, plan.classify(s, current))[2] == []


def test_simple_to_weighted_keeps_the_health_check():
    s = spec(active="green")
    simple = {"Name": "api.example.com.", "Type": "A", "TTL": 60, "HealthCheckId": "hc-simple",
              "ResourceRecords": [{"Value": "192.0.2.20"}, {"Value": "192.0.2.21"}]}
    desired, _w, _changes = plan.plan(s, plan.classify(s, [simple]))
    assert {d["SetIdentifier"]: d.get("HealthCheckId") for d in desired} == {"blue": None, "green": "hc-simple"}


def test_weighted_to_simple_keeps_the_active_colours_health_check():
    s = spec(routing="simple", active="green")
    green = {**weighted("green", 0, ["192.0.2.20", "192.0.2.21"]), "HealthCheckId": "hc-green"}
    desired, _w, _changes = plan.plan(s, plan.classify(s, [weighted("blue", 100, ["192.0.2.10"]), green]))
    assert desired[0].get("HealthCheckId") == "hc-green"


def test_foreign_simple_value_is_refused_unless_force():
    simple = {"Name": "api.example.com.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "198.51.100.7"}]}
    s = spec()
    with pytest.raises(SwitchyardError, match=r"198\.51\.100\.7.*force: true"):
        plan.plan(s, plan.classify(s, [simple]))
    forced = spec(force=True)
    changes = plan.plan(forced, plan.classify(forced, [simple]))[2]
    assert changes[0] == {"Action": "DELETE", "ResourceRecordSet": simple}


def test_idle_record_delete_removes_the_zero_weight_set():
    s = spec(idle_record="delete")
    current = [weighted("blue", 100, ["192.0.2.10"]), weighted("green", 0, ["192.0.2.20", "192.0.2.21"])]
    desired, weights, _changes = plan.plan(s, plan.classify(s, current))
    assert weights == {"blue": 0, "green": 100}
    assert [d["SetIdentifier"] for d in desired] == ["green"]
    assert plan.idle_answerable(s, desired) == []


def test_idle_answerable_only_when_every_live_record_can_turn_unhealthy():
    s = spec()
    idle = weighted("blue", 0, ["192.0.2.10"])
    live = weighted("green", 100, ["192.0.2.20", "192.0.2.21"])
    assert plan.idle_answerable(s, [idle, live]) == []
    assert plan.idle_answerable(s, [idle, {**live, "HealthCheckId": "hc-1"}]) == ["blue"]


def test_dualstack_alias_is_a_real_difference():
    targets = {"blue": {"alias": {"dns_name": "dualstack.lb-1.us-east-1.elb.amazonaws.com",
                                  "hosted_zone_id": "Z35SXDOTRQ7X7K"}},
               "green": {"alias": {"dns_name": "lb-2.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K"}}}
    s = spec(targets=targets, active="blue")
    stored = {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "blue", "Weight": 100,
              "AliasTarget": {"HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "lb-1.us-east-1.elb.amazonaws.com.",
                              "EvaluateTargetHealth": False}}
    green = {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "green", "Weight": 0,
             "AliasTarget": {"HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "lb-2.us-east-1.elb.amazonaws.com.",
                             "EvaluateTargetHealth": False}}
    assert plan.classify(s, [stored, green]).active == "blue"
    assert plan.plan(s, plan.classify(s, [stored, green]))[2] != []
    upper = {**stored, "AliasTarget": {**stored["AliasTarget"],
                                       "DNSName": "DUALSTACK.lb-1.us-east-1.elb.amazonaws.com"}}
    assert plan.plan(s, plan.classify(s, [upper, green]))[2] == []


@pytest.mark.parametrize(("overrides", "message"), [
    ({"record": "api\\089.example.com"}, "octal escape"),
    ({"record": "bücher.example.com"}, "xn--bcher-kva"),
    ({"targets": {"blue": {"alias": {"dns_name": "d111111abcdef8.cloudfront.net", "hosted_zone_id": "Z2FDTNDATAQYW2",
                                     "evaluate_target_health": True}}, "green": TARGETS["green"]}}, "CloudFront"),
    ({"idle_record": "drop"}, "idle_record"),
])
def test_aws_limits_validated_locally(overrides, message):
    with pytest.raises(SwitchyardError, match=message):
        spec(**overrides)


def test_cloudfront_alias_refused_in_private_zone():
    s = spec(targets={"blue": {"alias": {"dns_name": "d111111abcdef8.cloudfront.net",
                                         "hosted_zone_id": "Z2FDTNDATAQYW2"}}, "green": TARGETS["green"]})
    s.check_zone_kind({"name": "example.com.", "private": False})
    with pytest.raises(SwitchyardError, match="private hosted zone"):
        s.check_zone_kind({"name": "example.com.", "private": True})


def test_intermediate_names_for_delegation_check():
    assert zones.intermediate_names("a.b.sub.example.com", "example.com") == ["sub.example.com", "b.sub.example.com"]
    assert zones.intermediate_names("api.example.com", "example.com.") == []


def test_comment_truncated_and_error_body_parsed():
    assert len(change.truncate_comment("x" * 400)) == 256
    assert change.truncate_comment("short") == "short"
    body = (b'<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
            b"<Messages><Message>Tried to delete resource record set [name='api.example.com.', type='A', "
            b"set-identifier='blue'] but the values provided do not match the current values</Message>"
            b"<Message>second</Message></Messages><RequestId>r</RequestId></InvalidChangeBatch>")
    messages = change.invalid_change_batch_messages(body)
    assert len(messages) == 2 and "do not match the current values" in messages[0]
