# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the emulator cannot show: PENDING then INSYNC, wait timeout, throttling retries, AccessDenied.

Responses come from botocore's Stubber, or, where botocore's own retry handler must run, from a
`before-send` hook that answers in place of the network (the retry loop sits around that hook).
Retry backoff and waiter delays are made tiny so nothing sleeps for real.
"""

from __future__ import annotations

import datetime

import botocore.endpoint
import botocore.retries.bucket
import botocore.waiter
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws import connection as _aws
from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.errors import describe_error
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError, SwitchyardError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.change import waiter_timing
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.spec import Spec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.switch import switch
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.zones import find_zone

ZONE_ID = "Z0123456789ABCDEFGHIJ"
ZONE = {"Id": f"/hostedzone/{ZONE_ID}", "Name": "example.com.", "CallerReference": "ref",
        "Config": {"PrivateZone": False}}
PARAMS = {
    "zone": "example.com", "record": "api.example.com", "type": "A", "routing": "weighted",
    "targets": {"blue": {"values": ["192.0.2.10"]}, "green": {"values": ["192.0.2.20"]}},
    "active": "green", "wait": True, "wait_timeout": 300,
}
CURRENT = [
    {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "blue", "Weight": 100, "TTL": 60,
     "ResourceRecords": [{"Value": "192.0.2.10"}]},
    {"Name": "api.example.com.", "Type": "A", "SetIdentifier": "green", "Weight": 0, "TTL": 60,
     "ResourceRecords": [{"Value": "192.0.2.20"}]},
]
NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def make_client(max_attempts=3, mode="standard"):
    params = {"endpoint_url": "http://127.0.0.1:9", "access_key": "unit", "secret_key": "unit-secret",
              "retry_mode": mode, "max_attempts": max_attempts}
    return _aws.client_from_params("route53", params)


def stub_reads(stubber):
    stubber.add_response("list_hosted_zones_by_name",
                         {"HostedZones": [ZONE], "IsTruncated": False, "MaxItems": "100"})
    stubber.add_response("list_resource_record_sets",
                         {"ResourceRecordSets": CURRENT, "IsTruncated": False, "MaxItems": "300"})


def stub_read_back(stubber, sets):
    stubber.add_response("list_resource_record_sets",
                         {"ResourceRecordSets": sets, "IsTruncated": False, "MaxItems": "300"})


def change_info(status):
    return {"ChangeInfo": {"Id": "/change/C1", "Status": status, "SubmittedAt": NOW}}


def test_pending_then_insync():
    client = make_client()
    counter = _aws.ApiCallCounter().attach(client)
    with Stubber(client) as stubber:
        stub_reads(stubber)
        stubber.add_response("change_resource_record_sets", change_info("PENDING"))
        stubber.add_response("get_change", change_info("PENDING"), {"Id": "C1"})
        stubber.add_response("get_change", change_info("PENDING"), {"Id": "C1"})
        stubber.add_response("get_change", change_info("INSYNC"), {"Id": "C1"})
        result = switch(client, PARAMS, wait_delay=0.01)
        stubber.assert_no_pending_responses()
    assert result["status"] == "INSYNC" and result["change_id"] == "C1"
    assert result["weights"] == {"blue": 0, "green": 100} and result["previous_active"] == "blue"
    assert result["propagation"]["based_on"] == "insync" and result["propagation"]["ttl"] == 60
    assert counter.summary()["by_operation"]["GetChange"] == 3


def test_no_wait_reports_pending_and_submission_based_propagation():
    client = make_client()
    with Stubber(client) as stubber:
        stub_reads(stubber)
        stubber.add_response("change_resource_record_sets", change_info("PENDING"))
        result = switch(client, {**PARAMS, "wait": False})
        stubber.assert_no_pending_responses()
    assert result["status"] == "PENDING"
    assert result["propagation"] == {"ttl": 60, "based_on": "submitted", "settled_at": "2026-01-01T12:01:00Z"}


def test_wait_timeout_fails_with_the_change_id_and_changed(monkeypatch):
    """The waiter's own delay/attempts derive from wait_timeout; its sleeps are recorded, not slept."""
    slept = []
    monkeypatch.setattr(botocore.waiter.time, "sleep", slept.append)
    client = make_client()
    delay, attempts = waiter_timing(30)
    assert (delay, attempts) == (1, 31)
    with Stubber(client) as stubber:
        stub_reads(stubber)
        stubber.add_response("change_resource_record_sets", change_info("PENDING"))
        for _attempt in range(attempts):
            stubber.add_response("get_change", change_info("PENDING"), {"Id": "C1"})
        with pytest.raises(SwitchyardError) as caught:
            switch(client, {**PARAMS, "wait_timeout": 30})
        stubber.assert_no_pending_responses()
    assert sum(slept) == 30
    assert "still PENDING after wait_timeout=30" in str(caught.value)
    assert caught.value.details["changed"] is True
    assert caught.value.details["change_id"] == "C1" and caught.value.details["status"] == "PENDING"


def test_waiter_timing_is_bounded():
    assert waiter_timing(300) == (10, 31)
    assert waiter_timing(1) == (1, 2)
    assert waiter_timing(3600) == (10, 361)


def test_access_denied_on_wait_names_get_change():
    client = make_client()
    with Stubber(client) as stubber:
        stub_reads(stubber)
        stubber.add_response("change_resource_record_sets", change_info("PENDING"))
        stubber.add_client_error("get_change", "AccessDenied", "User is not authorized", 403)
        with pytest.raises(SwitchyardError) as caught:
            switch(client, PARAMS, wait_delay=0.01)
    assert "route53:GetChange" in str(caught.value) and "wait: false" in str(caught.value)
    assert caught.value.details["changed"] is True
    # The batch is in: the message itself says so and gives the change id.
    change_id = caught.value.details["change_id"]
    assert change_id and f"change {change_id} was submitted" in str(caught.value)


def test_access_denied_on_change_names_the_permission_and_changes_nothing():
    client = make_client()
    with Stubber(client) as stubber:
        stub_reads(stubber)
        stubber.add_client_error("change_resource_record_sets", "AccessDenied", "not authorized", 403)
        stub_read_back(stubber, CURRENT)
        with pytest.raises(SwitchyardError) as caught:
            switch(client, PARAMS)
        stubber.assert_no_pending_responses()
    assert "route53:ChangeResourceRecordSets" in str(caught.value)
    assert "read back and is unchanged" in str(caught.value)
    assert caught.value.details.get("changed") is False


def test_access_denied_on_zone_lookup():
    client = make_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("list_hosted_zones_by_name", "AccessDenied", "not authorized", 403)
        with pytest.raises(SwitchyardError) as caught:
            switch(client, PARAMS)
    assert "route53:ListHostedZonesByName" in str(caught.value) and "hosted_zone_id" in str(caught.value)


def test_invalid_change_batch_says_nothing_was_applied():
    client = make_client()
    with Stubber(client) as stubber:
        stub_reads(stubber)
        stubber.add_client_error("change_resource_record_sets", "InvalidChangeBatch", "Tried to delete ...", 400)
        stub_read_back(stubber, CURRENT)
        with pytest.raises(SwitchyardError) as caught:
            switch(client, PARAMS)
    assert "applied none of it" in str(caught.value)


# --------------------------------------------------------------- botocore's retry handler, for real

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
ZONES_XML = (f'<?xml version="1.0"?><ListHostedZonesByNameResponse xmlns="{NS}"><HostedZones><HostedZone>'
             f"<Id>/hostedzone/{ZONE_ID}</Id><Name>example.com.</Name><CallerReference>r</CallerReference>"
             "<Config><PrivateZone>false</PrivateZone></Config></HostedZone></HostedZones>"
             "<IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesByNameResponse>")


def error_xml(code):
    return (f'<?xml version="1.0"?><ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{code} from the test</Message></Error><RequestId>req</RequestId></ErrorResponse>")


class FakeNetwork:
    """Answers every HTTP request itself: `failures` errors first, then the success body."""

    def __init__(self, client, code, failures, body=ZONES_XML):
        self.code, self.failures, self.body, self.sent = code, failures, body, 0
        client.meta.events.register("before-send", self.answer)

    def answer(self, request, **kwargs):
        self.sent += 1
        if self.sent <= self.failures:
            return AWSResponse(request.url, 400, {}, _Raw(error_xml(self.code).encode()))
        return AWSResponse(request.url, 200, {}, _Raw(self.body.encode()))


class _Raw:
    def __init__(self, data):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


@pytest.fixture
def no_backoff_sleep(monkeypatch):
    """Record botocore's backoff delays instead of sleeping them."""
    delays = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", delays.append)
    # adaptive mode's client-side token bucket would block on a real condition variable for
    # seconds after throttling; its retry decision is the standard one exercised here.
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    return delays


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
@pytest.mark.parametrize("code", ["PriorRequestNotComplete", "Throttling"])
def test_retried_by_botocore_then_succeeds(no_backoff_sleep, mode, code):
    client = make_client(max_attempts=4, mode=mode)
    counter = _aws.ApiCallCounter().attach(client)
    network = FakeNetwork(client, code, failures=2)
    zones = client.list_hosted_zones_by_name(DNSName="example.com.")
    assert zones["HostedZones"][0]["Name"] == "example.com."
    assert network.sent == 3
    assert counter.summary() == {"total": 1, "http_requests": 3, "by_operation": {"ListHostedZonesByName": 1}}
    assert len([d for d in no_backoff_sleep if d > 0]) >= 1  # botocore backed off between attempts


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
@pytest.mark.parametrize("code", ["PriorRequestNotComplete", "Throttling"])
def test_retries_are_bounded_then_a_clear_error(no_backoff_sleep, mode, code):
    client = make_client(max_attempts=3, mode=mode)
    network = FakeNetwork(client, code, failures=100)
    with pytest.raises(SwitchyardError) as caught:
        find_zone(client, Spec(PARAMS))
    assert network.sent == 3
    assert f"still failed with {code} after 3 attempts" in str(caught.value)
    assert "max_attempts" in str(caught.value)


def test_access_denied_is_not_retried(no_backoff_sleep):
    client = make_client(max_attempts=5)
    network = FakeNetwork(client, "AccessDenied", failures=100)
    with pytest.raises(SwitchyardError) as caught:
        find_zone(client, Spec(PARAMS))
    assert network.sent == 1
    assert "route53:ListHostedZonesByName" in str(caught.value)


def test_client_uses_the_configured_retry_mode():
    client = make_client(max_attempts=7, mode="adaptive")
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}


def test_client_defaults_region_for_custom_endpoint():
    assert make_client().meta.region_name == "us-east-1"


@pytest.mark.parametrize(("params", "message"), [
    ({"endpoint_url": "localhost:5000"}, "endpoint_url"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"session_token": "tok"}, "session_token"),
])
def test_connection_params_checked_locally(params, message):
    with pytest.raises(InputError, match=message):
        _aws.check_connection_params(params)


def test_missing_credentials_message():
    from botocore.exceptions import NoCredentialsError  # noqa: PLC0415

    assert "access_key" in describe_error(NoCredentialsError())


RRSETS_XML = (f'<?xml version="1.0"?><ListResourceRecordSetsResponse xmlns="{NS}"><ResourceRecordSets>'
              + "".join(f"<ResourceRecordSet><Name>api.example.com.</Name><Type>A</Type>"
                        f"<SetIdentifier>{colour}</SetIdentifier><Weight>{weight}</Weight><TTL>60</TTL>"
                        f"<ResourceRecords><ResourceRecord><Value>{value}</Value></ResourceRecord></ResourceRecords>"
                        "</ResourceRecordSet>"
                        for colour, weight, value in (("blue", 100, "192.0.2.10"), ("green", 0, "192.0.2.20")))
              + "</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>300</MaxItems>"
              "</ListResourceRecordSetsResponse>")


def change_xml(root, status):
    return (f'<?xml version="1.0"?><{root} xmlns="{NS}"><ChangeInfo><Id>/change/C9</Id><Status>{status}</Status>'
            f"<SubmittedAt>2026-01-01T12:00:00Z</SubmittedAt></ChangeInfo></{root}>")


class FakeRoute53:
    """A tiny Route53 behind botocore's retry loop: the change call is refused `busy` times first."""

    def __init__(self, client, busy):
        self.busy, self.sent = busy, []
        client.meta.events.register("before-send", self.answer)

    def answer(self, request, **kwargs):
        path = request.url.split("2013-04-01", 1)[1]
        self.sent.append((request.method, path.split("?")[0]))
        if path.startswith("/hostedzonesbyname"):
            body = ZONES_XML
        elif path.startswith(f"/hostedzone/{ZONE_ID}/rrset") and request.method == "GET":
            body = RRSETS_XML
        elif path.startswith(f"/hostedzone/{ZONE_ID}/rrset"):
            if self.busy:
                self.busy -= 1
                return AWSResponse(request.url, 400, {}, _Raw(error_xml("PriorRequestNotComplete").encode()))
            body = change_xml("ChangeResourceRecordSetsResponse", "PENDING")
        else:
            body = change_xml("GetChangeResponse", "INSYNC")
        return AWSResponse(request.url, 200, {}, _Raw(body.encode()))


def test_whole_switch_survives_prior_request_not_complete(no_backoff_sleep):
    client = make_client(max_attempts=5)
    counter = _aws.ApiCallCounter().attach(client)
    fake = FakeRoute53(client, busy=2)
    result = switch(client, PARAMS, wait_delay=0.01)
    assert result["status"] == "INSYNC" and result["weights"] == {"blue": 0, "green": 100}
    posts = [p for m, p in fake.sent if m == "POST"]
    assert len(posts) == 3  # one batch, sent three times: refused twice, then accepted whole
    summary = counter.summary()
    assert summary["by_operation"] == {"ChangeResourceRecordSets": 1, "GetChange": 1,
                                       "ListHostedZonesByName": 1, "ListResourceRecordSets": 1}
    assert summary["total"] == 4 and summary["http_requests"] == 6


# --------------------------------------------------------------- issue 15: what happens after a refused or lost batch


def weighted_set(colour, weight, value):
    return {"Name": "api.example.com.", "Type": "A", "SetIdentifier": colour, "Weight": weight, "TTL": 60,
            "ResourceRecords": [{"Value": value}]}


SPLIT = [weighted_set("blue", 100, "192.0.2.10"), weighted_set("green", 100, "192.0.2.20")]
ROLLED_BACK = [weighted_set("blue", 100, "192.0.2.10"), weighted_set("green", 0, "192.0.2.20")]
PROMOTED = [weighted_set("blue", 0, "192.0.2.10"), weighted_set("green", 100, "192.0.2.20")]
REFUSED = ("Tried to delete resource record set [name='api.example.com.', type='A', set-identifier='green'] "
           "but the values provided do not match the current values")


def stub_split_reads(stubber, sets):
    stubber.add_response("list_hosted_zones_by_name",
                         {"HostedZones": [ZONE], "IsTruncated": False, "MaxItems": "100"})
    stub_read_back(stubber, sets)


def test_conflict_is_planned_again_from_the_live_record():
    """Another run rolled back between this run's read and write: its guarded batch is refused, it re-plans."""
    client = make_client()
    with Stubber(client) as stubber:
        stub_split_reads(stubber, SPLIT)
        stubber.add_client_error("change_resource_record_sets", "InvalidChangeBatch", REFUSED, 400)
        stub_read_back(stubber, ROLLED_BACK)
        stubber.add_response("change_resource_record_sets", change_info("INSYNC"))
        result = switch(client, {**PARAMS, "wait": False})
        stubber.assert_no_pending_responses()
    assert result["changed"] is True and result["weights"] == {"blue": 0, "green": 100}
    assert result["previous_weights"] == {"blue": 100, "green": 0}  # the state it re-planned from
    deleted = [c["ResourceRecordSet"] for c in result["change_batch"]["Changes"] if c["Action"] == "DELETE"]
    assert deleted == ROLLED_BACK
    assert "planned again from the live record" in result["warnings"][0]


def test_conflict_without_retry_fails_naming_the_live_state():
    client = make_client()
    with Stubber(client) as stubber:
        stub_split_reads(stubber, SPLIT)
        stubber.add_client_error("change_resource_record_sets", "InvalidChangeBatch", REFUSED, 400)
        stub_read_back(stubber, ROLLED_BACK)
        with pytest.raises(SwitchyardError) as caught:
            switch(client, {**PARAMS, "retry_on_conflict": False})
        stubber.assert_no_pending_responses()
    assert caught.value.details["changed"] is False
    assert "blue=100, green=0" in str(caught.value) and "nothing of it was applied" in str(caught.value)


def test_refusal_of_a_batch_that_was_applied_is_success_with_a_warning():
    """The first attempt was applied, its answer lost, botocore's retry refused: the read-back tells the truth."""
    client = make_client()
    with Stubber(client) as stubber:
        stub_split_reads(stubber, ROLLED_BACK)
        stubber.add_client_error("change_resource_record_sets", "InvalidChangeBatch", REFUSED, 400)
        stub_read_back(stubber, PROMOTED)
        result = switch(client, PARAMS)
        stubber.assert_no_pending_responses()
    assert result["changed"] is True and result["change_id"] is None
    assert result["propagation"]["based_on"] == "read_back" and result["propagation"]["settled_at"]
    assert "ambiguous" in result["warnings"][0]


def test_read_back_failure_says_the_outcome_is_unknown():
    client = make_client()
    with Stubber(client) as stubber:
        stub_split_reads(stubber, ROLLED_BACK)
        stubber.add_client_error("change_resource_record_sets", "ServiceUnavailable", "try later", 503)
        stubber.add_client_error("list_resource_record_sets", "AccessDenied", "no", 403)
        with pytest.raises(SwitchyardError) as caught:
            switch(client, PARAMS)
    assert caught.value.details["status"] == "UNKNOWN"
    assert "whether the change was applied is unknown" in str(caught.value)
