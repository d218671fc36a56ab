# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_traffic: access-log window reads, counter diffs, verdicts and the traffic_stats measurement."""

from __future__ import annotations

import json

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError, InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic import measure as measure_mod
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.access_log import read_samples
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.stats import (
    counter_diff,
    sample_stats,
    stats_by_colour,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.verdict import judge, summary_line

T0 = 1_800_000_000.0
POOLS = {"blue": ["127.0.0.1:8001"], "green": ["127.0.0.1:8002"]}


def line(at, status=200, upstream="127.0.0.1:8002", *, upstream_time="0.004", app="shop", colour=""):
    return json.dumps({"msec": at, "status": status, "app": app, "upstream_addr": upstream,
                       "upstream_status": str(status), "upstream_response_time": upstream_time,
                       "request_time": 0.005, "color": colour})


def stats(requests, errors=0, p95=None):
    samples = [{"at": 0, "colour": "x", "status": 500 if n < errors else 200, "latency_ms": p95,
                "error": n < errors, "no_answer": False} for n in range(requests)]
    return sample_stats(samples)


def test_read_samples_keeps_only_the_window_and_the_app(tmp_path):
    log = tmp_path / "access.log"
    lines = [line(T0 - 5), line(T0 + 1, 500), line(T0 + 2, upstream="127.0.0.1:8001"),
             line(T0 + 3, app="other"), line(T0 + 4, 502, upstream_time="-"), line(T0 + 20)]
    log.write_text("\n".join(lines) + "\n")
    samples = read_samples(str(log), T0, T0 + 10, {"127.0.0.1:8001": "blue", "127.0.0.1:8002": "green"}, app="shop",
                           chunk=64)  # a small chunk crosses line boundaries
    assert [s["at"] for s in samples] == [T0 + 1, T0 + 2, T0 + 4]
    colours = stats_by_colour(samples)
    assert colours["green"]["requests"] == 2
    assert colours["green"]["errors_5xx"] == 1
    assert colours["green"]["no_answer"] == 1
    assert colours["green"]["error_rate"] == 1.0
    assert colours["blue"] == {**colours["blue"], "requests": 1, "errors": 0}


def test_read_samples_of_a_large_log_stops_before_old_lines(tmp_path):
    log = tmp_path / "access.log"
    old = [line(T0 - 1000 + n * 0.01) for n in range(5000)]
    log.write_text("\n".join([*old, line(T0 + 1, 503)]) + "\n")
    samples = read_samples(str(log), T0, T0 + 2, {}, chunk=4096)
    assert len(samples) == 1
    assert samples[0]["colour"] == "unknown"


def test_counter_diff_subtracts_and_skips_a_reset_colour():
    first = {"blue": {"requests": 100, "errors_5xx": 1, "no_answer": 0, "rtime_weighted": 0},
             "green": {"requests": 50, "errors_5xx": 5, "no_answer": 0, "rtime_weighted": 0}}
    last = {"blue": {"requests": 190, "errors_5xx": 1, "no_answer": 0, "rtime_weighted": 190.0},
            "green": {"requests": 10, "errors_5xx": 0, "no_answer": 0, "rtime_weighted": 0}}
    result = counter_diff(first, last)
    assert set(result) == {"blue"}
    assert result["blue"]["requests"] == 90
    assert result["blue"]["latency_avg_ms"] == 1.0


def test_verdict_fails_on_error_rate_above_the_old_colour():
    colours = {"green": stats(100, errors=10), "blue": stats(900, errors=9)}
    verdict = judge(colours, "green", "blue", max_error_rate=0.05, min_requests=20)
    assert verdict["verdict"] == "fail"
    assert verdict["excess_error_rate"] == pytest.approx(0.09)
    assert "max_error_rate 5.0 %" in verdict["reasons"][0]
    assert summary_line(colours, "green", "blue", verdict).startswith("green 100 req, 10.0 % errors")


def test_verdict_is_relative_to_the_old_colour():
    # Both colours fail alike (a shared dependency): the release is not to blame.
    colours = {"green": stats(100, errors=10), "blue": stats(900, errors=90)}
    assert judge(colours, "green", "blue", max_error_rate=0.05, min_requests=20)["verdict"] == "pass"


def test_verdict_inconclusive_below_min_requests_and_old_colour_without_traffic_counts_as_zero():
    assert judge({"green": stats(5, errors=5)}, "green", "blue", max_error_rate=0.05,
                 min_requests=20)["verdict"] == "inconclusive"
    colours = {"green": stats(100, errors=10), "blue": stats(3, errors=3)}
    verdict = judge(colours, "green", "blue", max_error_rate=0.05, min_requests=20)
    assert verdict["verdict"] == "fail"
    assert verdict["excess_error_rate"] == pytest.approx(0.1)


def test_verdict_latency_needs_both_the_threshold_and_the_old_colour():
    slow = {"green": stats(100, p95=800.0), "blue": stats(100, p95=100.0)}
    assert judge(slow, "green", "blue", max_error_rate=0.05, max_latency_p95_ms=500,
                 min_requests=20)["verdict"] == "fail"
    both_slow = {"green": stats(100, p95=800.0), "blue": stats(100, p95=900.0)}
    assert judge(both_slow, "green", "blue", max_error_rate=0.05, max_latency_p95_ms=500,
                 min_requests=20)["verdict"] == "pass"


def params(**overrides):
    base = {"router": "nginx", "access_log": None, "admin_socket": None, "name": "shop", "pools": POOLS,
            "window": 2.0, "target": "green", "previous": "blue", "max_error_rate": 0.01,
            "max_latency_p95_ms": None, "min_requests": 2, "timeout": 1.0}
    base.update(overrides)
    return base


def test_measure_reads_the_window_it_waited_for(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(line(T0 - 1, 500) + "\n")
    clock = iter([T0, T0 + 2])
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        with log.open("a") as handle:  # traffic during the window
            handle.write("\n".join([line(T0 + 0.5), line(T0 + 1), line(T0 + 1.5, upstream="127.0.0.1:8001")]) + "\n")

    result = measure_mod.measure(params(access_log=str(log)), sleep=sleep, clock=lambda: next(clock))
    assert slept == [2.0]
    assert result["colors"]["green"]["requests"] == 2
    assert result["colors"]["blue"]["requests"] == 1
    assert result["verdict"]["verdict"] == "pass"


def test_measure_errors_name_the_option(tmp_path):
    with pytest.raises(ExternalError, match="nginx_traffic_log"):
        measure_mod.measure(params(access_log=str(tmp_path / "missing.log"), window=0))
    with pytest.raises(InputError, match="max_error_rate"):
        measure_mod.measure(params(access_log="x", max_error_rate=5))
    with pytest.raises(InputError, match="previous needs target"):
        measure_mod.measure(params(access_log="x", target=None))


def test_the_nginx_role_writes_the_format_the_parser_reads():
    from pathlib import Path  # noqa: PLC0415

    from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.access_log import (  # noqa: PLC0415
        NGINX_LOG_FORMAT,
        NGINX_LOG_FORMAT_NAME,
    )

    template = Path(__file__).resolve().parents[4] / "roles" / "nginx" / "templates" / "log_format.conf.j2"
    directive = f"log_format {NGINX_LOG_FORMAT_NAME} escape=json '{NGINX_LOG_FORMAT}';"
    assert directive in template.read_text().splitlines()
