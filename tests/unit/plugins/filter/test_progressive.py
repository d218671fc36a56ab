# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progressive switch's filters: step validation, weights, per-step analysis and the abort message."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.filter.progressive import (
    progressive_analysis,
    progressive_failure,
    progressive_steps,
    progressive_weights,
)

THRESHOLDS = {"max_error_rate": 0.02, "max_latency_p95_ms": 500, "min_requests": 10}


def colour(requests, errors=0, p95=5.0):
    return {"requests": requests, "errors": errors, "errors_5xx": errors, "no_answer": 0,
            "error_rate": round(errors / requests, 4) if requests else 0.0, "p50_ms": 1.0, "p95_ms": p95,
            "p99_ms": p95, "latency_avg_ms": 1.0}


def test_steps_are_checked_and_end_at_100():
    steps = progressive_steps([{"weight": 5, "pause": 30}, {"weight": 25}], "nginx", default_pause=60)
    assert steps == [
        {"index": 1, "weight": 5, "pause": 30.0, "analyse": True},
        {"index": 2, "weight": 25, "pause": 60.0, "analyse": True},
        {"index": 3, "weight": 100, "pause": 0, "analyse": False},
    ]
    assert progressive_steps([{"weight": 50, "pause": 1}, {"weight": 100, "pause": 2}], "haproxy")[-1] == \
        {"index": 2, "weight": 100, "pause": 2.0, "analyse": True}


@pytest.mark.parametrize(("steps", "message"), [
    ([], "is empty"),
    ({"weight": 5}, "must be a list"),
    ("5:1, :3", "step 2 ':3': write weight:pause"),
    ([{"weight": 25, "pause": 1}, {"weight": 5, "pause": 1}], "step 2 weight 5 must be above the previous step's 25"),
    ([{"weight": 150}], "at most 100"),
    ([{"weight": 5, "pause": 0}], "needs a pause above 0"),
    ([{"weight": 5, "pause": 1, "analysis": "x"}], "unknown keys analysis"),
    ([{"pause": 1}], "needs weight"),
    ([{"weight": "five", "pause": 1}], "weight must be a number"),
])
def test_bad_steps_name_the_step(steps, message):
    with pytest.raises(AnsibleFilterError, match=message):
        progressive_steps(steps, "nginx")


def test_route53_pause_is_at_least_the_ttl():
    with pytest.raises(AnsibleFilterError, match="shorter than the record's TTL 60 s"):
        progressive_steps([{"weight": 10, "pause": 30}], "route53", ttl=60)
    assert progressive_steps([{"weight": 10, "pause": 60}], "route53", ttl=60)[0]["pause"] == 60


def test_weights():
    assert progressive_weights(5, "green", "blue") == {"green": 5, "blue": 95}
    assert progressive_weights(100, "green", "blue") is None


def test_analysis_adds_hosts_up_and_fails_on_error_rate():
    step = {"index": 1, "weight": 20, "pause": 2.0}
    hosts = [{"colors": {"green": colour(30, 3, p95=4.0), "blue": colour(120)}},
             {"colors": {"green": colour(20, 2, p95=9.0), "blue": colour(80)}}]
    result = progressive_analysis(hosts, step, "green", "blue", THRESHOLDS)
    assert result["verdict"] == "fail"
    assert result["colors"]["green"]["requests"] == 50
    assert result["colors"]["green"]["error_rate"] == 0.1
    assert result["colors"]["green"]["p95_ms"] == 9.0  # the worst host
    assert result["line"].startswith("step 1 weight 20 % for 2 s: green 50 req, 10.0 % errors")
    message = progressive_failure(result, "green", "blue")
    assert "aborted at step 1 (weight 20 %)" in message
    assert "max_error_rate 2.0 %" in message
    assert "back on blue" in message


def test_analysis_pass_inconclusive_and_probe():
    step = {"index": 2, "weight": 50, "pause": 1.0}
    good = [{"colors": {"green": colour(100), "blue": colour(100)}}]
    assert progressive_analysis(good, step, "green", "blue", THRESHOLDS)["verdict"] == "pass"
    few = [{"colors": {"green": colour(3), "blue": colour(100)}}]
    assert progressive_analysis(few, step, "green", "blue", THRESHOLDS)["verdict"] == "inconclusive"
    probe_failed = {"passed": False, "summary": "10 requests, 3 failed"}
    result = progressive_analysis(good, step, "green", "blue", THRESHOLDS, probe=probe_failed)
    assert result["verdict"] == "fail"
    assert "probe: 10 requests, 3 failed" in result["reasons"]


def test_analysis_without_measurement_is_not_analysed_unless_a_probe_ran():
    step = {"index": 1, "weight": 10, "pause": 60.0}
    skipped = [{"skipped": True}]
    assert progressive_analysis(skipped, step, "green", "blue", THRESHOLDS)["verdict"] == "not_analysed"
    probe_ok = {"passed": True, "summary": "10 requests, 0 failed"}
    assert progressive_analysis(skipped, step, "green", "blue", THRESHOLDS, probe=probe_ok)["verdict"] == "pass"


def test_steps_in_text_form_as_a_survey_gives_them():
    assert progressive_steps("5:30, 25:60, 100", "nginx") == [
        {"index": 1, "weight": 5, "pause": 30.0, "analyse": True},
        {"index": 2, "weight": 25, "pause": 60.0, "analyse": True},
        {"index": 3, "weight": 100, "pause": 0, "analyse": False},
    ]
