# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""router_summary and reload_skew, checked against the Jinja the switch role used before."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter import timings

# roles/switch/tasks/main.yml before the filters; "records" stands for each host's switch_router_timings.
OLD_SUMMARY = (
    "{% set parts = [] %}{% for record in records %}{% set t = record.timings | default({}) %}"
    "{% set _ = parts.append(record.host ~ ': ' ~ (t | dict2items | rejectattr('value', 'none')"
    " | map(attribute='key') | zip(t | dict2items | rejectattr('value', 'none') | map(attribute='value'))"
    " | map('join', ' ') | join(', '))) %}{% endfor %}{{ parts | join('; ') }}"
)
OLD_SKEW = (
    "{% set times = records | map(attribute='applied_at') | select | map('to_datetime', '%Y-%m-%dT%H:%M:%S.%fZ')"
    " | list %}{{ ((times | max) - (times | min)).total_seconds() | round(3) if times else none }}"
)

NGINX = [
    {"host": "lb1", "applied_at": "2026-01-31T12:00:00.100000Z",
     "timings": {"validate_ms": 9, "reload_ms": 24.5, "drain_ms": None, "total_ms": 151}},
    {"host": "lb2", "applied_at": "2026-01-31T12:00:00.350123Z", "timings": {"validate_ms": 11, "reload_ms": 30}},
]
ROUTE53 = [{"host": "localhost", "applied_at": None, "change_id": "C1", "status": "INSYNC"}]


def test_filter_module_exposes_every_filter():
    assert set(timings.FilterModule().filters()) == {"router_summary", "reload_skew", "switch_end", "router_record"}


@pytest.mark.parametrize("records", [NGINX, NGINX[:1], ROUTE53, [], [{"host": "lb1", "timings": {}}]])
def test_router_summary_matches_the_expression_it_replaced(render, records):
    assert timings.router_summary(records) == render(OLD_SUMMARY, records=records)


def test_router_summary_leaves_out_unset_timings():
    assert timings.router_summary(NGINX) == (
        "lb1: validate_ms 9, reload_ms 24.5, total_ms 151; lb2: validate_ms 11, reload_ms 30")
    assert timings.router_summary(ROUTE53) == "localhost: "


@pytest.mark.parametrize("records", [NGINX, ROUTE53, NGINX + ROUTE53, [NGINX[0]], []])
def test_reload_skew_matches_the_expression_it_replaced(render, records):
    assert timings.reload_skew(records) == render(OLD_SKEW, records=records)


def test_reload_skew_is_the_spread_of_applied_at():
    assert timings.reload_skew(NGINX) == 0.25
    assert timings.reload_skew(list(reversed(NGINX))) == 0.25
    assert timings.reload_skew(NGINX[:1]) == 0.0
    assert timings.reload_skew(ROUTE53) is None


def test_bad_records_are_refused_with_the_host():
    with pytest.raises(AnsibleFilterError, match="applied_at of lb1 is '12:00'"):
        timings.reload_skew([{"host": "lb1", "applied_at": "12:00"}])
    with pytest.raises(AnsibleFilterError, match="timings of lb1 must be a dict"):
        timings.router_summary([{"host": "lb1", "timings": [1, 2]}])
    with pytest.raises(AnsibleFilterError, match="list of router records"):
        timings.router_summary({"host": "lb1"})
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        timings.reload_skew(["lb1"])


def test_switch_end_reads_the_records_once_for_all_four_values():
    end = timings.switch_end(NGINX, 100.0, 100.4567)
    assert end == {
        "duration_s": 0.457,
        "reload_skew_s": timings.reload_skew(NGINX),
        "router_summary": timings.router_summary(NGINX),
        "router_timings": NGINX,
    }


def test_switch_end_without_times_has_no_skew():
    end = timings.switch_end([{"host": "r53", "timings": {}}], "100", "101")
    assert end["duration_s"] == 1.0
    assert end["reload_skew_s"] is None


@pytest.mark.parametrize("started, now", [(None, 1.0), ("soon", 1.0)])
def test_switch_end_needs_epoch_seconds(started, now):
    with pytest.raises(AnsibleFilterError, match="switch_end: started and now must be epoch seconds"):
        timings.switch_end(NGINX, started, now)


def test_switch_end_refuses_what_is_not_a_list_of_records():
    with pytest.raises(AnsibleFilterError, match="switch_end expects a list of router records"):
        timings.switch_end({"host": "lb1"}, 1.0, 2.0)


# roles/switch/tasks/nginx_apply.yml before router_record ("result" is the registered switch result).
OLD_NGINX_RECORD = (
    "{{ {'host': host, 'changed': result is changed,"
    " 'failed': result is failed or result.unreachable | default(false),"
    " 'drained': result.drained | default(false), 'applied_at': result.reloaded_at | default(none),"
    " 'committed_at': result.committed_at | default(none), 'commit_late_ms': result.commit_late_ms | default(none),"
    " 'timings': result.timings | default({}),"
    " 'error': (('unreachable: ' if result.unreachable | default(false) else '') ~ result.msg | default(''))"
    " if result is failed or result.unreachable | default(false) else ''} }}"
)
APPLIED = {"changed": True, "failed": False, "drained": True, "reloaded_at": "2026-01-31T12:00:00.100000Z",
           "timings": {"reload_ms": 24}, "msg": ""}
COMMITTED = dict(APPLIED, committed_at="2026-01-31T12:00:00.100Z", commit_late_ms=0)
REFUSED = {"changed": False, "failed": True, "msg": "nginx -t failed: unknown directive"}
UNREACHABLE = {"unreachable": True, "changed": False, "msg": "Failed to connect to the host via ssh"}
NOTHING = {"changed": False, "failed": False, "timings": {}}


@pytest.mark.parametrize("result", [APPLIED, COMMITTED, REFUSED, UNREACHABLE, NOTHING],
                         ids=["applied", "committed", "refused", "unreachable", "unchanged"])
def test_router_record_matches_the_expression_it_replaced(render, result):
    old = render(OLD_NGINX_RECORD, result=result, host="lb1")
    assert timings.router_record(result, "lb1") == old


def test_router_record_of_an_unreachable_host_is_failed_with_the_reason():
    record = timings.router_record(UNREACHABLE, "lb7")
    assert record["failed"] is True
    assert record["error"] == "unreachable: Failed to connect to the host via ssh"


def test_router_record_copies_extra_keys_with_their_defaults():
    result = dict(APPLIED, applied_at="2026-01-31T12:00:00.200000Z", reloaded=True)
    record = timings.router_record(result, "lb1", applied_key="applied_at", extra={"reloaded": False, "drift": []})
    assert record["applied_at"] == "2026-01-31T12:00:00.200000Z"
    assert (record["reloaded"], record["drift"]) == (True, [])


def test_router_record_refuses_what_is_not_a_result():
    with pytest.raises(AnsibleFilterError, match="router_record: the result of lb1 must be a registered task result"):
        timings.router_record("ok", "lb1")
