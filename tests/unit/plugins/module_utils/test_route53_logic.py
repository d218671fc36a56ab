# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Normalisation, validation and planning of a Route53 switch, without any AWS client."""

from __future__ import annotations

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils import _route53 as r53

TARGETS = {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20", "192.0.2.21"]}}


def spec(**overrides):
    params = {"zone": "example.com", "record": "api.example.com", "type": "A", "routing": "weighted",
              "targets": TARGETS, "active": "green", "wait": True, "wait_timeout": 300}
    params.update(overrides)
    return r53.Spec({k: v for k, v in params.items() if v is not None})


def weighted(colour, weight, values, ttl=60):
    return {"Name": "api.example.com.", "Type": "A", "SetIdentifier": colour, "Weight": weight, "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in values]}


@pytest.mark.parametrize(("given", "expected"), [
    ("API.Example.COM.", "api.example.com"),
    ("\\052.example.com.", "*.example.com"),
    ("api.example.com", "api.example.com"),
])
def test_normalise_name(given, expected):
    assert r53.normalise_name(given) == expected


def test_alias_and_zone_id_keys_ignore_aws_presentation():
    assert r53.alias_name_key("dualstack.Blue-LB.elb.amazonaws.com.") == "blue-lb.elb.amazonaws.com"
    assert r53.zone_id_key("/hostedzone/z35sxdotrq7x7k") == "Z35SXDOTRQ7X7K"
    assert r53.value_key("AAAA", "2001:DB8:0:0::0001") == "2001:db8::1"


def test_idempotency_key_ignores_value_order_but_not_ttl_or_weight():
    a = weighted("green", 100, ["192.0.2.20", "192.0.2.21"])
    assert r53.rrset_key(a) == r53.rrset_key(weighted("green", 100, ["192.0.2.21", "192.0.2.20"]))
    assert r53.rrset_key(a) != r53.rrset_key(weighted("green", 100, ["192.0.2.20", "192.0.2.21"], ttl=300))
    assert r53.rrset_key(a) != r53.rrset_key(weighted("green", 0, ["192.0.2.20", "192.0.2.21"]))


def test_weighted_shift_is_one_batch_with_every_weight():
    s = spec(active=None, weights={"blue": 50, "green": 50})
    state = r53.classify(s, [weighted("blue", 100, ["192.0.2.10"]), weighted("green", 0, ["192.0.2.20", "192.0.2.21"])])
    assert state.routing == "weighted" and state.active == "blue"
    _desired, weights, changes = r53.plan(s, state)
    assert weights == {"blue": 50, "green": 50}
    assert [(c["Action"], c["ResourceRecordSet"]["SetIdentifier"], c["ResourceRecordSet"]["Weight"]) for c in changes] \
        == [("UPSERT", "blue", 50), ("UPSERT", "green", 50)]
    assert r53.sole_active(weights) is None


def test_conversion_deletes_old_sets_exactly_as_read():
    s = spec(routing="simple", active="green")
    old = [weighted("blue", 100, ["192.0.2.10"]), weighted("green", 0, ["192.0.2.20", "192.0.2.21"])]
    _desired, weights, changes = r53.plan(s, r53.classify(s, old))
    assert weights is None
    assert [c["Action"] for c in changes] == ["DELETE", "DELETE", "UPSERT"]
    assert [c["ResourceRecordSet"] for c in changes[:2]] == old
    assert "SetIdentifier" not in changes[2]["ResourceRecordSet"]


def test_health_check_id_is_kept():
    s = spec()
    blue = {**weighted("blue", 100, ["192.0.2.10"]), "HealthCheckId": "hc-1"}
    desired, _w, changes = r53.plan(s, r53.classify(s, [blue]))
    assert {d["SetIdentifier"]: d.get("HealthCheckId") for d in desired} == {"blue": "hc-1", "green": None}
    assert len(changes) == 2


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
    with pytest.raises(r53.SwitchError, match=message):
        spec(**overrides)


def test_wildcard_record_is_allowed():
    assert spec(record="*.example.com").record == "*.example.com"


def test_classify_reports_instead_of_raising_for_info():
    s = spec()
    foreign = weighted("red", 5, ["192.0.2.99"])
    with pytest.raises(r53.SwitchError, match="red"):
        r53.classify(s, [foreign])
    state = r53.classify(s, [foreign], strict=False)
    assert state.routing == "unmanaged" and "red" in state.problem
