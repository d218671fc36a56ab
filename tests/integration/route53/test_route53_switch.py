# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""route53_switch / route53_switch_info run as Ansible runs them, against a real moto_server over HTTP."""

from __future__ import annotations

import pytest

from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET

BLUE_ALIAS = {"alias": {"dns_name": "blue-lb-1.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K",
                        "evaluate_target_health": True}}
GREEN_VALUES = {"values": ["203.0.113.20", "203.0.113.21"]}
BLUE_VALUES = {"values": ["203.0.113.10"]}


def args(r53, **overrides):
    base = {"zone": "example.com", "record": "api.example.com", "type": "A",
            "targets": {"blue": BLUE_ALIAS, "green": GREEN_VALUES}, "active": "green", **r53.conn}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def changes_sent(result) -> int:
    return result["api_calls"]["by_operation"].get("ChangeResourceRecordSets", 0)


def weights_in(r53, zone_id, name="api.example.com", rtype="A"):
    return {r["SetIdentifier"]: r["Weight"] for r in r53.sets(zone_id, name, rtype)}


def test_first_switch_then_idempotent_rerun(r53, run_module):
    zone_id = r53.zone()
    first = run_module("route53_switch", args(r53))
    assert not first.failed, first
    assert first["changed"] is True
    assert first["active"] == "green" and first["previous_active"] is None
    assert first["weights"] == {"blue": 0, "green": 100}
    assert first["previous_routing"] == "absent" and first["routing"] == "weighted"
    assert first["status"] == "INSYNC" and first["change_id"]
    # The whole switch is one batch, and a first switch costs 3 calls (zone, read, change).
    assert changes_sent(first) == 1
    assert len(first["change_batch"]["Changes"]) == 2
    assert first["api_calls"]["total"] == 3
    assert weights_in(r53, zone_id) == {"blue": 0, "green": 100}
    green = next(r for r in r53.sets(zone_id, "api.example.com", "A") if r["SetIdentifier"] == "green")
    assert sorted(v["Value"] for v in green["ResourceRecords"]) == ["203.0.113.20", "203.0.113.21"]
    assert green["TTL"] == 60

    again = run_module("route53_switch", args(r53))
    assert again["changed"] is False, again
    assert changes_sent(again) == 0
    assert again["active"] == "green" and again["previous_active"] == "green"
    assert again["change_id"] is None and again["propagation"]["based_on"] == "unchanged"


def test_idempotent_against_aws_normalised_alias_and_value_order(r53, run_module):
    """AWS returns alias names lowercased with a dot; zone ids in any case; values in any order."""
    zone_id = r53.zone()
    r53.put(zone_id,
            {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "blue", "Weight": 0,
             "AliasTarget": {"HostedZoneId": "z35sxdotrq7x7k",
                             "DNSName": "dualstack.blue-lb-1.us-east-1.elb.amazonaws.com.",
                             "EvaluateTargetHealth": True}},
            {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "green", "Weight": 100, "TTL": 60,
             "ResourceRecords": [{"Value": "203.0.113.21"}, {"Value": "203.0.113.20"}]})
    targets = {"blue": {"alias": {"dns_name": "DualStack.Blue-LB-1.us-east-1.ELB.amazonaws.com.",
                                  "hosted_zone_id": "Z35SXDOTRQ7X7K", "evaluate_target_health": True}},
               "green": GREEN_VALUES}
    result = run_module("route53_switch", args(r53, targets=targets))
    assert result["changed"] is False, result
    assert changes_sent(result) == 0
    # dualstack. is part of the name AWS stores (issue 15, item 6): without it the target differs.
    plain = {"blue": {"alias": {**targets["blue"]["alias"], "dns_name": "blue-lb-1.us-east-1.elb.amazonaws.com"}},
             "green": GREEN_VALUES}
    differs = run_module("route53_switch", args(r53, targets=plain), check_mode=True)
    assert differs["changed"] is True, differs
    # A real difference in the alias (evaluate_target_health) is still seen.
    targets["blue"]["alias"]["evaluate_target_health"] = False
    changed = run_module("route53_switch", args(r53, targets=targets))
    assert changed["changed"] is True
    # Guarded batch: every set deleted as read and created as wanted; only blue's content differs.
    batch = changed["change_batch"]["Changes"]
    deleted = {c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"] for c in batch
               if c["Action"] == "DELETE"}
    created = {c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"] for c in batch
               if c["Action"] == "CREATE"}
    assert sorted(deleted) == sorted(created) == ["blue", "green"]

    def same(left, right):
        values = [sorted(v["Value"] for v in r.get("ResourceRecords", [])) for r in (left, right)]
        return values[0] == values[1] and {**left, "ResourceRecords": 0} == {**right, "ResourceRecords": 0}
    assert [c for c in created if not same(created[c], deleted[c])] == ["blue"]
    assert r53.sets(zone_id, "api.example.com", "A")[0]["AliasTarget"]["EvaluateTargetHealth"] is False


def test_weighted_shift_in_steps(r53, run_module):
    zone_id = r53.zone()
    targets = {"blue": BLUE_VALUES, "green": GREEN_VALUES}
    seen = []
    for weights in ({"blue": 100, "green": 0}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}):
        result = run_module("route53_switch", args(r53, targets=targets, active=None, weights=weights))
        assert result["changed"] is True, result
        assert result["weights"] == weights
        assert weights_in(r53, zone_id) == weights
        # Both weights travel in the one batch: never both at full weight or both at zero in between.
        batch = result["change_batch"]["Changes"]
        assert {c["ResourceRecordSet"]["SetIdentifier"] for c in batch} == {"blue", "green"}
        assert changes_sent(result) == 1
        seen.append(result)
    assert seen[0]["active"] == "blue"
    assert seen[1]["active"] is None and seen[1]["previous_active"] == "blue"
    assert seen[1]["previous_weights"] == {"blue": 100, "green": 0}
    assert seen[2]["active"] == "green" and seen[2]["previous_weights"] == {"blue": 50, "green": 50}
    info = run_module("route53_switch_info", {"zone": "example.com", "record": "api.example.com", "type": "A",
                                              **r53.conn})
    assert info["active"] == "green" and info["weights"] == {"blue": 0, "green": 100}
    assert info["routing"] == "weighted" and info["managed"] is True


def test_active_keeps_an_existing_sole_weight(r53, run_module):
    zone_id = r53.zone()
    targets = {"blue": BLUE_VALUES, "green": GREEN_VALUES}
    run_module("route53_switch", args(r53, targets=targets, active=None, weights={"blue": 0, "green": 255}))
    result = run_module("route53_switch", args(r53, targets=targets, active="green"))
    assert result["changed"] is False and result["weights"] == {"blue": 0, "green": 255}
    flipped = run_module("route53_switch", args(r53, targets=targets, active="blue"))
    assert flipped["weights"] == {"blue": 100, "green": 0}
    assert weights_in(r53, zone_id) == {"blue": 100, "green": 0}


def test_simple_to_weighted_and_back_in_one_batch(r53, run_module):
    zone_id = r53.zone()
    targets = {"blue": BLUE_VALUES, "green": GREEN_VALUES}
    simple = run_module("route53_switch", args(r53, targets=targets, routing="simple", active="blue"))
    assert simple["changed"] and simple["routing"] == "simple" and simple["weights"] is None
    [record] = r53.sets(zone_id, "api.example.com", "A")
    assert "SetIdentifier" not in record and record["ResourceRecords"] == [{"Value": "203.0.113.10"}]

    again = run_module("route53_switch", args(r53, targets=targets, routing="simple", active="blue"))
    assert again["changed"] is False and again["previous_active"] == "blue"

    weighted = run_module("route53_switch", args(r53, targets=targets, routing="weighted", active="green"))
    assert weighted["changed"] and weighted["previous_routing"] == "simple"
    assert weighted["previous_active"] == "blue" and weighted["active"] == "green"
    actions = [(c["Action"], c["ResourceRecordSet"].get("SetIdentifier")) for c in weighted["change_batch"]["Changes"]]
    assert actions == [("DELETE", None), ("CREATE", "blue"), ("CREATE", "green")]
    assert changes_sent(weighted) == 1
    assert weights_in(r53, zone_id) == {"blue": 0, "green": 100}

    back = run_module("route53_switch", args(r53, targets=targets, routing="simple", active="green"))
    assert back["changed"] and back["previous_routing"] == "weighted" and back["previous_weights"]
    actions = [(c["Action"], c["ResourceRecordSet"].get("SetIdentifier")) for c in back["change_batch"]["Changes"]]
    assert actions == [("DELETE", "blue"), ("DELETE", "green"), ("CREATE", None)]
    [record] = r53.sets(zone_id, "api.example.com", "A")
    assert "SetIdentifier" not in record
    assert sorted(v["Value"] for v in record["ResourceRecords"]) == ["203.0.113.20", "203.0.113.21"]
    info = run_module("route53_switch_info", {"zone": "example.com", "record": "api.example.com", "type": "A",
                                              "targets": targets, **r53.conn})
    assert info["routing"] == "simple" and info["active"] == "green" and info["weights"] is None


def test_check_mode_sends_nothing_and_predicts(r53, run_module):
    zone_id = r53.zone()
    result = run_module("route53_switch", args(r53), check_mode=True)
    assert result["changed"] is True and result["change_id"] is None
    assert result["weights"] == {"blue": 0, "green": 100}
    assert result["propagation"]["based_on"] == "check_mode"
    assert changes_sent(result) == 0
    assert r53.sets(zone_id, "api.example.com") == []
    run_module("route53_switch", args(r53))
    unchanged = run_module("route53_switch", args(r53), check_mode=True)
    assert unchanged["changed"] is False


def test_diff_shows_before_and_after(r53, run_module):
    r53.zone()
    run_module("route53_switch", args(r53, active="blue"))
    result = run_module("route53_switch", args(r53, active="green"), diff=True)
    before = {r["set_identifier"]: r["weight"] for r in result["diff"]["before"]["record_sets"]}
    after = {r["set_identifier"]: r["weight"] for r in result["diff"]["after"]["record_sets"]}
    assert before == {"blue": 100, "green": 0} and after == {"blue": 0, "green": 100}
    assert result["record_sets_before"] == result["diff"]["before"]["record_sets"]
    assert result["propagation"]["ttl"] == 60 and result["propagation"]["settled_at"]


VALIDATION_CASES = [
    ("weight_256", {"active": None, "weights": {"blue": 256, "green": 0}}, "0-255"),
    ("weight_negative", {"active": None, "weights": {"blue": -1, "green": 100}}, "0-255"),
    ("weights_all_zero", {"active": None, "weights": {"blue": 0, "green": 0}}, "all weights are 0"),
    ("weights_missing_colour", {"active": None, "weights": {"green": 100}}, "missing: blue"),
    ("alias_plus_ttl", {"targets": {"blue": BLUE_ALIAS, "green": {"alias": {
        "dns_name": "green-lb.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K"}}}, "ttl": 60},
     "ttl applies to values targets only"),
    ("a_not_ipv4", {"targets": {"blue": {"values": ["2001:db8::1"]}, "green": GREEN_VALUES}}, "not an IPv4 address"),
    ("a_garbage", {"targets": {"blue": {"values": ["300.1.2.3"]}, "green": GREEN_VALUES}}, "not an IPv4 address"),
    ("aaaa_not_ipv6", {"type": "AAAA", "targets": {"blue": {"values": ["192.0.2.1"]},
                                                   "green": {"values": ["2001:db8::2"]}}}, "not an IPv6 address"),
    ("cname_at_apex", {"type": "CNAME", "record": "example.com", "targets": {
        "blue": {"values": ["blue.example.net"]}, "green": {"values": ["green.example.net"]}}},
     "CNAME cannot be at the zone apex"),
    ("cname_two_values", {"type": "CNAME", "targets": {
        "blue": {"values": ["a.example.net", "b.example.net"]}, "green": {"values": ["c.example.net"]}}},
     "exactly one value"),
    ("cname_to_ip", {"type": "CNAME", "targets": {
        "blue": {"values": ["192.0.2.1"]}, "green": {"values": ["c.example.net"]}}}, "is an IP address"),
    ("record_outside_zone", {"record": "api.example.org"}, "outside zone example.com"),
    ("active_not_a_colour", {"active": "red"}, "not a colour in targets"),
    ("duplicate_values", {"targets": {"blue": {"values": ["192.0.2.1", "192.0.2.1"]}, "green": GREEN_VALUES}},
     "more than once"),
    ("identical_targets", {"targets": {"blue": GREEN_VALUES, "green": {"values": ["203.0.113.21", "203.0.113.20"]}}},
     "give the same answer"),
    ("alias_and_values", {"targets": {"blue": {**BLUE_ALIAS, **BLUE_VALUES}, "green": GREEN_VALUES}},
     "exactly one of alias"),
    ("alias_without_zone", {"targets": {"blue": {"alias": {"dns_name": "x.elb.amazonaws.com"}},
                                        "green": GREEN_VALUES}}, "alias.hosted_zone_id is required"),
    ("bad_colour_name", {"targets": {"blue green": BLUE_VALUES, "green": GREEN_VALUES}}, "colour name"),
    ("simple_with_weights", {"routing": "simple", "active": None, "weights": {"blue": 0, "green": 100}},
     "routing is simple but all of the following are missing: active"),
    ("ttl_negative", {"targets": {"blue": BLUE_VALUES, "green": GREEN_VALUES}, "ttl": -5}, "ttl must be between"),
    ("bad_record_name", {"record": "api..example.com"}, "not a valid DNS name"),
    ("endpoint_not_url", {"endpoint_url": "127.0.0.1:5000"}, "endpoint_url"),
]


@pytest.mark.parametrize(("overrides", "message"), [c[1:] for c in VALIDATION_CASES],
                         ids=[c[0] for c in VALIDATION_CASES])
def test_invalid_input_is_rejected_before_any_change(r53, run_module, overrides, message):
    zone_id = r53.zone()
    r53.put(zone_id, {"Name": "api.example.com.", "Type": "A", "TTL": 300,
                      "ResourceRecords": [{"Value": "192.0.2.99"}]})
    before = r53.sets(zone_id, "api.example.com")
    result = run_module("route53_switch", args(r53, **overrides))
    assert result.failed, result
    assert message in result["msg"]
    assert not result.get("changed")
    assert result.get("api_calls", {}).get("by_operation", {}).get("ChangeResourceRecordSets", 0) == 0
    assert r53.sets(zone_id, "api.example.com") == before


UNMANAGED_CASES = [
    ("foreign_set_identifier", [{"Name": "api.example.com.", "Type": "A", "SetIdentifier": "red", "Weight": 10,
                                 "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.7"}]}],
     "SetIdentifier red, which are not colours in targets"),
    ("failover_routing", [{"Name": "api.example.com.", "Type": "A", "SetIdentifier": "blue", "Failover": "PRIMARY",
                           "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.7"}]}], "Failover"),
    ("cname_in_the_way", [{"Name": "api.example.com.", "Type": "CNAME", "TTL": 60,
                           "ResourceRecords": [{"Value": "elsewhere.example.net"}]}], "is a CNAME record"),
]


@pytest.mark.parametrize(("existing", "message"), [c[1:] for c in UNMANAGED_CASES], ids=[c[0] for c in UNMANAGED_CASES])
def test_unmanaged_shapes_are_refused(r53, run_module, existing, message):
    zone_id = r53.zone()
    r53.put(zone_id, *existing)
    before = r53.sets(zone_id, "api.example.com")
    result = run_module("route53_switch", args(r53))
    assert result.failed and message in result["msg"], result
    assert r53.sets(zone_id, "api.example.com") == before
    info = run_module("route53_switch_info", {"zone": "example.com", "record": "api.example.com", "type": "A",
                                              "targets": args(r53)["targets"], **r53.conn})
    assert not info.failed and info["managed"] is False and message in info["problem"]


def test_zone_lookup_by_name_and_by_id(r53, run_module):
    zone_id = r53.zone()
    r53.zone("other.example")
    by_id = run_module("route53_switch", args(r53, zone=None, hosted_zone_id=f"/hostedzone/{zone_id.lower()}"))
    assert not by_id.failed, by_id
    assert by_id["zone"] == {"id": zone_id, "name": "example.com.", "private": False}
    assert by_id["api_calls"]["by_operation"].get("GetHostedZone") == 1
    by_name = run_module("route53_switch", args(r53))
    assert by_name["zone"]["id"] == zone_id and by_name["changed"] is False
    missing_id = run_module("route53_switch", args(r53, zone=None, hosted_zone_id="ZNOTTHERE"))
    assert missing_id.failed and "ZNOTTHERE was not found" in missing_id["msg"]


def test_zone_not_found_names_close_zones(r53, run_module):
    r53.zone()
    r53.zone("example.net")
    result = run_module("route53_switch", args(r53, zone="exmple.com", record="api.exmple.com"))
    assert result.failed
    assert "no public hosted zone named exmple.com" in result["msg"]
    assert "example.com" in result["msg"].split("close names:")[1]


def test_private_zone(r53, run_module):
    public_id = r53.zone()
    private_id = r53.zone(private=True)
    private = run_module("route53_switch", args(r53, private_zone=True, active="blue"))
    assert not private.failed, private
    assert private["zone"] == {"id": private_id, "name": "example.com.", "private": True}
    assert weights_in(r53, private_id) == {"blue": 100, "green": 0}
    assert r53.sets(public_id, "api.example.com") == []
    public = run_module("route53_switch", args(r53, private_zone=False))
    assert public["zone"]["id"] == public_id


def test_only_private_zone_exists_says_so(r53, run_module):
    private_id = r53.zone("internal.example", private=True)
    result = run_module("route53_switch", args(r53, zone="internal.example", record="api.internal.example"))
    assert result.failed
    assert "private one exists" in result["msg"] and "private_zone: true" in result["msg"]
    assert private_id in result["msg"]


def test_cname_weighted_and_health_check_kept(r53, run_module):
    zone_id = r53.zone()
    r53.put(zone_id, {"Name": "www.example.com.", "Type": "CNAME", "SetIdentifier": "blue", "Weight": 100, "TTL": 30,
                      "HealthCheckId": "11111111-2222-3333-4444-555555555555",
                      "ResourceRecords": [{"Value": "blue.example.net"}]})
    targets = {"blue": {"values": ["BLUE.example.net."]}, "green": {"values": ["green.example.net"]}}
    result = run_module("route53_switch", args(r53, record="www.example.com", type="CNAME", targets=targets,
                                               active="green", ttl=30))
    assert result["changed"] and result["previous_active"] == "blue"
    by_id = {r["SetIdentifier"]: r for r in r53.sets(zone_id, "www.example.com", "CNAME")}
    assert by_id["blue"]["HealthCheckId"] == "11111111-2222-3333-4444-555555555555"
    assert by_id["blue"]["Weight"] == 0 and by_id["green"]["Weight"] == 100
    again = run_module("route53_switch", args(r53, record="www.example.com", type="CNAME", targets=targets,
                                              active="green", ttl=30))
    assert again["changed"] is False


def test_connection_from_environment(r53, run_module):
    """The Molecule scenario and benchmarks configure the emulator through AWS_* variables only."""
    zone_id = r53.zone()
    env = {"AWS_ENDPOINT_URL": r53.server.url, "AWS_ACCESS_KEY_ID": DUMMY_KEY, "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
           "AWS_REGION": "us-east-1"}
    plain = {k: v for k, v in args(r53).items() if k not in r53.conn}
    result = run_module("route53_switch", plain, env=env)
    assert not result.failed, result
    assert weights_in(r53, zone_id) == {"blue": 0, "green": 100}
    assert DUMMY_SECRET not in repr(result)


def test_info_on_absent_record(r53, run_module):
    r53.zone()
    info = run_module("route53_switch_info", {"zone": "example.com", "record": "nothing.example.com", "type": "A",
                                              **r53.conn})
    assert not info.failed and info["routing"] == "absent" and info["active"] is None and info["record_sets"] == []
    assert info["api_calls"]["total"] == 2


def test_unreachable_endpoint_is_a_clear_error(run_module):
    from tests.lib.ports import free_port  # noqa: PLC0415

    result = run_module("route53_switch", {"zone": "example.com", "record": "api.example.com", "type": "A",
                                           "targets": {"blue": BLUE_VALUES, "green": GREEN_VALUES}, "active": "blue",
                                           "endpoint_url": f"http://127.0.0.1:{free_port()}", "access_key": "x",
                                           "secret_key": "y", "max_attempts": 1})
    assert result.failed and "endpoint_url" in result["msg"]


def test_playbook_with_module_defaults_group(r53, run_playbook, tmp_path):
    """As the `switch` role uses it: connection via the action group's module_defaults, result read back."""
    zone_id = r53.zone()
    playbook = tmp_path / "switch.yml"
    playbook.write_text(f"""
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/switchyard.bluegreen.bluegreen:
      endpoint_url: {r53.server.url}
      access_key: {DUMMY_KEY}
      secret_key: {DUMMY_SECRET}
  tasks:
    - switchyard.bluegreen.route53_switch:
        zone: example.com
        record: api.example.com
        type: A
        targets: {{blue: {{values: ["192.0.2.10"]}}, green: {{values: ["192.0.2.20"]}}}}
        active: green
      register: switched
    - switchyard.bluegreen.route53_switch_info:
        zone: example.com
        record: api.example.com
        type: A
      register: dns
    - ansible.builtin.assert:
        that:
          - switched is changed
          - dns.active == 'green'
          - dns.weights.blue == 0
          - dns.weights.green == 100
""")
    proc = run_playbook(playbook, inventory="localhost,", args=["--diff"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok=3" in proc.stdout and "changed=1" in proc.stdout
    assert '"weight": 100' in proc.stdout  # the diff of the record sets was shown
    assert weights_in(r53, zone_id) == {"blue": 0, "green": 100}
    assert DUMMY_SECRET not in proc.stdout


def test_wildcard_aaaa_simple_record(r53, run_module):
    zone_id = r53.zone()
    targets = {"blue": {"values": ["2001:db8::10"]}, "green": {"values": ["2001:DB8:0:0::20"]}}
    common = {"record": "*.example.com", "type": "AAAA", "routing": "simple", "targets": targets}
    first = run_module("route53_switch", args(r53, active="blue", **common))
    assert first["changed"] and not first.failed, first
    second = run_module("route53_switch", args(r53, active="green", **common))
    assert second["changed"] and second["previous_active"] == "blue"
    [record] = r53.sets(zone_id, "*.example.com", "AAAA") or r53.sets(zone_id, "\\052.example.com", "AAAA")
    assert record["ResourceRecords"] == [{"Value": "2001:db8::20"}]
    again = run_module("route53_switch", args(r53, active="green", **common))
    assert again["changed"] is False, again
