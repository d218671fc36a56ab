# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""route53_switch against rules AWS enforces and moto does not (issue 15, items 4-8), through the strict double.

State the module must meet is arranged straight in moto (``r53.raw``); the module always talks to the
strict double (tests/lib/route53_double.py), which refuses what AWS refuses.
"""

from __future__ import annotations

import pytest

BLUE = {"values": ["203.0.113.10"]}
GREEN = {"values": ["203.0.113.20"]}
CLOUDFRONT = {"alias": {"dns_name": "d111111abcdef8.cloudfront.net", "hosted_zone_id": "Z2FDTNDATAQYW2"}}


@pytest.fixture
def strict(r53):
    if r53.server.double is None:
        pytest.skip("needs the strict Route53 double")
    return r53


def args(r53, **overrides):
    base = {"zone": "example.com", "record": "api.example.com", "type": "A",
            "targets": {"blue": BLUE, "green": GREEN}, "active": "green", **r53.conn}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def changes_seen(r53) -> int:
    return r53.server.double.seen.get("ChangeResourceRecordSets", 0)


def simple(name, value, **extra):
    return {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": value}], **extra}


# ------------------------------------------------------------------ item 5: delegated subzones


@pytest.mark.parametrize("record", ["api.sub.example.com", "a.b.sub.example.com", "sub.example.com"])
def test_record_in_a_delegated_subzone_is_refused_naming_the_child(strict, run_module, record):
    zone_id = strict.zone()
    strict.put(zone_id, {"Name": "sub.example.com.", "Type": "NS", "TTL": 172800,
                         "ResourceRecords": [{"Value": "ns-1.awsdns-01.org."}]})
    result = run_module("route53_switch", args(strict, record=record))
    assert result.failed and result["changed"] is False, result
    assert "sub.example.com is delegated" in result["msg"] and "zone: sub.example.com" in result["msg"], result
    assert changes_seen(strict) == 0
    assert strict.sets(zone_id, record, "A") == []


# ------------------------------------------------------------------ item 7: conversions


def test_simple_to_weighted_keeps_the_health_check(strict, run_module):
    zone_id = strict.zone()
    strict.put(zone_id, simple("api.example.com.", "203.0.113.20", HealthCheckId="hc-green-1"))
    result = run_module("route53_switch", args(strict))
    assert not result.failed and result["changed"], result
    checks = {r["SetIdentifier"]: r.get("HealthCheckId") for r in strict.sets(zone_id, "api.example.com", "A")}
    assert checks == {"blue": None, "green": "hc-green-1"}


def test_foreign_simple_value_is_refused_unless_force(strict, run_module):
    zone_id = strict.zone()
    strict.put(zone_id, simple("api.example.com.", "198.51.100.7"))
    refused = run_module("route53_switch", args(strict))
    assert refused.failed and "198.51.100.7" in refused["msg"] and "force: true" in refused["msg"], refused
    assert changes_seen(strict) == 0
    forced = run_module("route53_switch", args(strict, force=True))
    assert not forced.failed and forced["changed"], forced
    assert {r["SetIdentifier"] for r in strict.sets(zone_id, "api.example.com", "A")} == {"blue", "green"}


# ------------------------------------------------------------------ item 8: limits AWS enforces


def test_long_comment_is_truncated_to_what_aws_accepts(strict, run_module):
    strict.zone()
    long_targets = {"b" * 100: BLUE, "g" * 100: GREEN}
    result = run_module("route53_switch", args(strict, targets=long_targets, active="g" * 100))
    assert not result.failed, result
    assert strict.server.double.refused == []
    comment = result["change_batch"]["Comment"]  # exactly what was sent
    assert len(comment) == 256 and comment.endswith("..."), comment
    # The double, which refuses a Comment over 256 characters like AWS, accepted the batch.
    assert changes_seen(strict) == 1


@pytest.mark.parametrize("private", [False, True])
def test_cloudfront_alias_rules(strict, run_module, private):
    strict.zone(private=private)
    health = {"alias": {**CLOUDFRONT["alias"], "evaluate_target_health": True}}
    refused = run_module("route53_switch", args(strict, private_zone=private, targets={"blue": health, "green": GREEN}))
    assert refused.failed and "CloudFront" in refused["msg"] and "evaluate_target_health" in refused["msg"]
    result = run_module("route53_switch",
                        args(strict, private_zone=private, targets={"blue": CLOUDFRONT, "green": GREEN}))
    if private:
        assert result.failed and "private hosted zone" in result["msg"], result
    else:
        assert not result.failed and result["changed"], result
    assert strict.server.double.refused == []  # refused locally, before AWS (the double) had to


@pytest.mark.parametrize(("record", "message"), [
    ("api\\089.example.com", "not a Route53 octal escape"),
    ("bücher.example.com", "xn--bcher-kva.example.com"),
])
def test_names_are_checked_without_traceback(strict, run_module, record, message):
    strict.zone()
    result = run_module("route53_switch", args(strict, record=record))
    assert result.failed and message in result["msg"], result
    assert "Traceback" not in str(result)


def test_aws_invalid_change_batch_body_is_read(strict, run_module):
    zone_id = strict.zone()
    strict.server.double.inject("ChangeResourceRecordSets", "InvalidChangeBatch")
    result = run_module("route53_switch", args(strict))
    assert result.failed and result["changed"] is False, result
    assert "applied none of it" in result["msg"]
    assert "Tried to create resource record set" in result["msg"], result["msg"]
    assert strict.sets(zone_id, "api.example.com", "A") == []


# ------------------------------------------------------------------ item 4: weight 0 under health checks


def test_idle_record_delete_and_idle_answerable(strict, run_module):
    zone_id = strict.zone()
    strict.put(zone_id,
               {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "blue", "Weight": 100, "TTL": 60,
                "ResourceRecords": [{"Value": "203.0.113.10"}], "HealthCheckId": "hc-blue"},
               {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "green", "Weight": 0, "TTL": 60,
                "ResourceRecords": [{"Value": "203.0.113.20"}], "HealthCheckId": "hc-green"})
    # green takes traffic with a health check: blue's kept zero-weight record can still be answered.
    kept = run_module("route53_switch", args(strict))
    assert not kept.failed and kept["idle_answerable"] == ["blue"], kept
    info = run_module("route53_switch_info", {"zone": "example.com", "record": "api.example.com", "type": "A",
                                              **strict.conn})
    assert info["idle_answerable"] == ["blue"], info
    deleted = run_module("route53_switch", args(strict, idle_record="delete"))
    assert not deleted.failed and deleted["changed"] and deleted["idle_answerable"] == [], deleted
    assert [r["SetIdentifier"] for r in strict.sets(zone_id, "api.example.com", "A")] == ["green"]
    # The next switch creates the idle colour's record again.
    back = run_module("route53_switch", args(strict, active="blue"))
    assert not back.failed and back["weights"] == {"blue": 100, "green": 0}, back
    assert {r["SetIdentifier"] for r in strict.sets(zone_id, "api.example.com", "A")} == {"blue", "green"}
