# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""publish_data, checked against the Jinja that roles/switch/tasks/publish.yml used before the filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter.publish import publish_data

# The three task vars of publish.yml before the filter, with the filter's arguments as variables.
OLD_OUTCOME = (
    "{% set outcome = ((failure | combine({'started_at': failure.switched_at}) if mode == 'failure'"
    " else {'live': live, 'previous': previous} if mode == 'status'"
    " else {} if override | length > 0 else result) | combine(override)) %}"
)
OLD_CONTRACT = (
    "{% set contract = ({'bluegreen_live_color': outcome.live, 'bluegreen_previous_color': outcome.previous}"
    " if mode == 'status' else {'bluegreen_live_color': outcome.live, 'bluegreen_previous_color': outcome.previous,"
    " 'bluegreen_switched': outcome.switched, 'bluegreen_switched_at': outcome.started_at,"
    " 'bluegreen_switch_duration_s': outcome.duration_s, 'bluegreen_reload_skew_s': outcome.reload_skew_s,"
    " 'bluegreen_verification': outcome.verification, 'bluegreen_failed': mode == 'failure',"
    " 'bluegreen_failure': outcome.message | regex_replace('\\s+', ' ') | trim | truncate(500)"
    " if mode == 'failure' else none,"
    " 'bluegreen_failed_task': outcome.task if mode == 'failure' else none, 'bluegreen_steps': steps}) %}"
)
OLD_DATA = (
    "{{ contract | combine({'bluegreen_version': version} if version is defined else {})"
    " | combine({duration_key: (now - started | float) | round(3)} if duration_key | length > 0 else {})"
    " | combine(extra) }}"
)
OLD = OLD_OUTCOME + OLD_CONTRACT + OLD_DATA

RESULT = {"app": "shop", "router": "nginx", "switched": True, "live": "green", "previous": "blue",
          "started_at": "2026-11-29T12:00:00.000000+00:00", "duration_s": 0.42, "reload_skew_s": 0.0,
          "verification": "green 10/10", "router_summary": "lb1: reload_ms 24"}
FAILURE = {"live": "blue", "previous": "green", "switched": False,
           "message": "green is not healthy,\n  traffic stays on blue", "task": "Refuse to switch",
           "switched_at": None, "duration_s": None, "reload_skew_s": None, "verification": "not run"}
STEPS = [{"weight": 10, "verdict": "pass"}]


def case(mode, **arguments):
    """The filter's arguments for one case, the ones a case does not name empty."""
    return {"mode": mode, "result": {}, "failure": {}, "live": None, "previous": None, "override": {}, "steps": [],
            **arguments}


CASES = {
    "result": case("result", result=RESULT),
    "result with steps": case("result", result=RESULT, steps=STEPS),
    "failure": case("failure", failure=FAILURE),
    "status": case("status", live="green", previous="blue"),
    "override is the whole outcome": case("result", result=RESULT,
                                          override=dict(RESULT, live="blue", previous="green", switched=False)),
    "failure with an override": case("failure", failure=FAILURE, override={"live": "green"}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_same_data_as_the_jinja_it_replaced(render, case):
    expected = render(OLD, extra={}, duration_key="", now=0, started=0, **case)
    assert publish_data(**case) == expected


def test_version_duration_and_extra_as_before(render):
    case = dict(CASES["result"], version="1.4.2", duration_key="bluegreen_deploy_duration_s", started=100.0,
                now=112.3456, extra={"bluegreen_fleet_split": False})
    expected = render(OLD, **case)
    data = publish_data(**case)
    assert data == expected
    assert data["bluegreen_version"] == "1.4.2"
    assert data["bluegreen_deploy_duration_s"] == 12.346
    assert data["bluegreen_fleet_split"] is False


def test_failure_reason_is_one_short_line():
    data = publish_data("failure", failure=dict(FAILURE, message="word " * 300))
    assert data["bluegreen_failed"] is True
    assert "\n" not in data["bluegreen_failure"]
    assert len(data["bluegreen_failure"]) <= 505
    assert data["bluegreen_failed_task"] == "Refuse to switch"
    assert data["bluegreen_switched_at"] is None


def test_an_override_without_a_key_publishes_none_for_it():
    data = publish_data("result", result=RESULT, override={"live": "blue", "previous": "green"})
    assert data["bluegreen_live_color"] == "blue"
    assert data["bluegreen_switched"] is None
    assert data["bluegreen_verification"] is None


def test_status_publishes_only_the_colours():
    assert publish_data("status", live="green", previous="blue") == {
        "bluegreen_live_color": "green", "bluegreen_previous_color": "blue"}


def test_unknown_mode_is_refused():
    with pytest.raises(AnsibleFilterError, match="mode must be one of result, failure, status"):
        publish_data("results", result=RESULT)


def test_duration_needs_epoch_seconds():
    with pytest.raises(AnsibleFilterError, match="bluegreen_deploy_duration_s needs started and now"):
        publish_data("result", result=RESULT, duration_key="bluegreen_deploy_duration_s", started=None, now=5)


def test_a_result_that_is_not_a_dict_is_refused():
    with pytest.raises(AnsibleFilterError, match="result must be a dict"):
        publish_data("result", result=["green"])
