# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""route53_switch against moto_server through a proxy that injects Route53 errors over real HTTP.

Bursts of Throttling / PriorRequestNotComplete shorter than max_attempts are retried by
botocore and the switch succeeds; longer bursts fail with a message naming the error and
the attempts, and nothing reaches Route53. An AccessDenied on GetChange while waiting for
INSYNC leaves a message that the change was submitted, with its id.
"""

from __future__ import annotations

import time

import boto3
import pytest

from tests.lib.moto import DUMMY_KEY, DUMMY_SECRET

from .conftest import FULL, run_module_process

TARGETS = {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20"]}}


class Zone:
    def __init__(self, moto_url: str, proxy):
        self.proxy = proxy
        self.client = boto3.client("route53", endpoint_url=moto_url, region_name="us-east-1",
                                   aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET)
        self.zone_id = self.client.create_hosted_zone(
            Name="example.com", CallerReference=f"faults-{time.monotonic_ns()}")["HostedZone"]["Id"].split("/")[-1]
        self.moto_url = moto_url

    def args(self, via_proxy: bool = True, **overrides) -> dict:
        args = {"zone": "example.com", "record": "api.example.com", "type": "A", "targets": TARGETS,
                "active": "green", "wait_timeout": 30,
                "endpoint_url": self.proxy.url if via_proxy else self.moto_url,
                "access_key": DUMMY_KEY, "secret_key": DUMMY_SECRET}
        args.update(overrides)
        return args

    def record_sets(self) -> list:
        return self.client.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]

    def weights(self) -> dict:
        return {r["SetIdentifier"]: r["Weight"] for r in self.record_sets() if r.get("SetIdentifier")}


@pytest.fixture
def zone(moto_server, fault_proxy):
    zone = Zone(moto_server.url, fault_proxy)
    first = run_module_process("route53_switch", zone.args(via_proxy=False, active="blue"))
    assert not first.failed, first
    assert zone.weights() == {"blue": 100, "green": 0}
    return zone


# adaptive mode only at full counts: it retries the same way and costs another ~5 s per case.
@pytest.mark.parametrize("retry_mode", ["standard", "adaptive"] if FULL else ["standard"])
@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_burst_within_bound_is_retried(zone, fault_log, code, retry_mode):
    burst, max_attempts = 2, 3
    fault_log.set("route53_switch: API faults", f"{burst} x {code} on ChangeResourceRecordSets, max_attempts="
                  f"{max_attempts}, retry_mode={retry_mode}", "retried by botocore; the switch succeeds")
    zone.proxy.inject("ChangeResourceRecordSets", *[code] * burst)
    start = time.monotonic()
    result = run_module_process("route53_switch", zone.args(max_attempts=max_attempts, retry_mode=retry_mode))
    fault_log.runs = 1
    fault_log.measured.update({"seconds": round(time.monotonic() - start, 2), "api_calls": result.get("api_calls"),
                               "proxy_saw": dict(zone.proxy.seen)})
    assert not result.failed, result
    assert result["changed"] is True and result["status"] == "INSYNC"
    assert zone.proxy.seen["ChangeResourceRecordSets"] == burst + 1
    assert result["api_calls"]["by_operation"]["ChangeResourceRecordSets"] == 1
    assert result["api_calls"]["http_requests"] >= burst + 3
    assert zone.weights() == {"blue": 0, "green": 100}


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_burst_beyond_bound_fails_clearly_and_changes_nothing(zone, fault_log, code):
    max_attempts = 2
    fault_log.set("route53_switch: API faults",
                  f"endless {code} on ChangeResourceRecordSets, max_attempts={max_attempts}",
                  "fails after exactly max_attempts requests, message names the error, the attempts and the fix; "
                  "no DNS change")
    before = zone.record_sets()
    zone.proxy.inject("ChangeResourceRecordSets", *[code] * 50)
    start = time.monotonic()
    result = run_module_process("route53_switch", zone.args(max_attempts=max_attempts))
    fault_log.runs = 1
    fault_log.measured.update({"seconds": round(time.monotonic() - start, 2), "msg": result.get("msg"),
                               "proxy_saw": dict(zone.proxy.seen)})
    assert not result.get("_no_json"), result.stderr
    assert result.failed and result.get("changed") is False, result
    assert zone.proxy.seen["ChangeResourceRecordSets"] == max_attempts
    assert code in result["msg"] and f"{max_attempts} attempts" in result["msg"], result["msg"]
    assert "max_attempts" in result["msg"], result["msg"]
    assert zone.record_sets() == before


def test_throttled_while_waiting_for_insync(zone, fault_log):
    fault_log.set("route53_switch: API faults", "change PENDING, then GetChange throttled twice, then INSYNC",
                  "the wait retries and ends INSYNC")
    zone.proxy.submit_pending = True
    zone.proxy.inject("GetChange", "pending", "Throttling", "Throttling")
    start = time.monotonic()
    result = run_module_process("route53_switch", zone.args(max_attempts=5, wait_timeout=30))
    fault_log.runs = 1
    fault_log.measured.update({"seconds": round(time.monotonic() - start, 2), "proxy_saw": dict(zone.proxy.seen)})
    assert not result.failed, result
    assert result["status"] == "INSYNC" and result["propagation"]["based_on"] == "insync"
    assert zone.proxy.seen["GetChange"] == 4
    assert zone.weights() == {"blue": 0, "green": 100}


def test_access_denied_while_waiting(zone, fault_log):
    fault_log.set("route53_switch: API faults", "change PENDING, then AccessDenied on GetChange during the wait",
                  "fails with changed=true, the change id, and a message that the change was submitted")
    zone.proxy.submit_pending = True
    zone.proxy.inject("GetChange", "pending", "AccessDenied")
    result = run_module_process("route53_switch", zone.args(wait_timeout=30))
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert not result.get("_no_json"), result.stderr
    assert result.failed and result.get("changed") is True, result
    change_id = result.get("change_id")
    assert change_id, result
    msg = result["msg"]
    assert "AccessDenied" in msg and "route53:GetChange" in msg, msg
    assert change_id in msg, f"the change id {change_id} is not in the message: {msg}"
    assert "submitted" in msg.lower() or "accepted" in msg.lower(), msg
    # The batch did reach Route53.
    assert zone.weights() == {"blue": 0, "green": 100}


def test_wait_timeout_while_pending(zone, fault_log):
    fault_log.set("route53_switch: API faults", "change stays PENDING longer than wait_timeout=2",
                  "fails with changed=true, status PENDING, the change id and the fix (raise wait_timeout)")
    zone.proxy.submit_pending = True
    zone.proxy.inject("GetChange", *["pending"] * 50)
    start = time.monotonic()
    result = run_module_process("route53_switch", zone.args(wait_timeout=2))
    fault_log.runs = 1
    fault_log.measured.update({"seconds": round(time.monotonic() - start, 2), "msg": result.get("msg")})
    assert result.failed and result.get("changed") is True, result
    assert result.get("status") == "PENDING"
    assert result["change_id"] and result["change_id"] in result["msg"]
    assert "wait_timeout" in result["msg"]


def test_access_denied_on_change_changes_nothing(zone, fault_log):
    fault_log.set("route53_switch: API faults", "AccessDenied on ChangeResourceRecordSets",
                  "fails with changed=false, names the IAM permission; no DNS change")
    before = zone.record_sets()
    zone.proxy.inject("ChangeResourceRecordSets", "AccessDenied")
    result = run_module_process("route53_switch", zone.args())
    fault_log.runs = 1
    fault_log.measured["msg"] = result.get("msg")
    assert result.failed and result.get("changed") is False, result
    assert "route53:ChangeResourceRecordSets" in result["msg"], result["msg"]
    assert zone.record_sets() == before
