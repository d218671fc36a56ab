# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The bluegreen_watch event source's plain logic: arguments, log lines, windows, counters, verdicts, notices."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ansible_collections.switchyard.bluegreen.extensions.eda.plugins.event_source import bluegreen_watch as bw
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import parse_stat
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.access_log import NGINX_LOG_FORMAT
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.stats import empty_stats, sample_stats

HERE = Path(__file__).parent
POOLS = {"blue": ["127.0.0.1:8001"], "green": ["127.0.0.1:8002"]}
T0 = 1_800_000_000.0  # an epoch second, for switched_at and request times


def options(**overrides):
    args = {"router": "nginx", "managed_file": "/x", "access_log": "/y", "interval": 10, "window": 10,
            "min_requests": 10, "bad_windows": 3, "max_error_rate": 0.05, "max_p95_ms": 500}
    args.update(overrides)
    return bw.parse_args(args)


def metadata(active="green", previous="blue", at=T0, weights=None):
    return {"name": "shop", "pools": POOLS, "active": active, "previous_active": previous,
            "switched_at": bw.iso(at).replace(".000", ""), "weights": weights}


def log_line(at, status=200, colour="", upstream="127.0.0.1:8002", *, upstream_time="0.004", app="shop",
             request_time=0.005):
    return json.dumps({"msec": at, "status": status, "app": app, "upstream_addr": upstream,
                       "upstream_status": str(status), "upstream_response_time": upstream_time,
                       "request_time": request_time, "color": colour})


def samples(count, at, colour="green", *, error_every=0, latency_ms=5.0, status=500):
    out = []
    for index in range(count):
        bad = bool(error_every) and index % error_every == 0
        out.append({"at": at, "colour": colour, "status": status if bad else 200, "latency_ms": latency_ms,
                    "error": bad and status >= 500, "no_answer": bad and status in (502, 504)})
    return out


def stats_for(count, error_every=0, latency_ms=5.0, colour="green", status=500):
    data = samples(count, T0, colour, error_every=error_every, latency_ms=latency_ms, status=status)
    return {colour: sample_stats(data)}


# --- arguments ---------------------------------------------------------------------------------
def test_arguments_are_typed_from_rulebook_strings():
    opts = bw.parse_args({"router": "nginx", "managed_file": "/m", "access_log": "/l", "interval": "2",
                          "min_requests": "7", "probe_previous": "false", "max_error_rate": "0.1"})
    assert opts["interval"] == 2.0 and opts["min_requests"] == 7 and opts["max_error_rate"] == 0.1
    assert opts["probe_previous"] is False
    assert opts["watch_period"] == 600.0 and opts["bad_windows"] == 3


@pytest.mark.parametrize(("args", "message"), [
    ({"router": "traefik", "managed_file": "/m"}, "router must be nginx or haproxy"),
    ({"router": "nginx", "access_log": "/l"}, "managed_file is required"),
    ({"router": "nginx", "managed_file": "/m"}, "access_log is required"),
    ({"router": "haproxy", "managed_file": "/m"}, "admin_socket is required"),
    ({"router": "nginx", "managed_file": "/m", "access_log": "/l", "interval": "soon"}, "interval must be a number"),
    ({"router": "nginx", "managed_file": "/m", "access_log": "/l", "bad_windows": 0}, "bad_windows must be at least 1"),
    ({"router": "nginx", "managed_file": "/m", "access_log": "/l", "max_error_rate": 5},
     "max_error_rate is a fraction"),
])
def test_bad_arguments_name_the_argument(args, message):
    with pytest.raises(bw.WatchArgumentError, match=message):
        bw.parse_args(args)


def test_collections_root_is_found_without_resolving_symlinks():
    path = "/b/collections/ansible_collections/switchyard/bluegreen/extensions/eda/plugins/event_source/x.py"
    assert bw._collections_root(path) == "/b/collections"
    assert bw._collections_root("/work/main/extensions/eda/plugins/event_source/x.py") is None


# --- nginx access log --------------------------------------------------------------------------
def test_log_line_colour_comes_from_the_header_field_first():
    sample = bw.parse_access_line(log_line(T0, colour="blue"), bw.server_colours(POOLS))
    assert sample["colour"] == "blue" and sample["latency_ms"] == pytest.approx(4.0)
    assert not sample["error"] and not sample["no_answer"]


def test_log_line_without_colour_maps_the_last_upstream_to_its_pool():
    line = log_line(T0, status=502, upstream="127.0.0.1:8001, 127.0.0.1:8002", upstream_time="0.001, 0.003")
    sample = bw.parse_access_line(line, bw.server_colours(POOLS))
    assert sample["colour"] == "green"
    assert sample["latency_ms"] == pytest.approx(4.0)  # every attempt counts
    assert sample["error"] and sample["no_answer"]


def test_log_line_without_upstream_time_uses_the_request_time_and_unknown_colour():
    line = log_line(T0, status=504, upstream="10.9.9.9:80", upstream_time="-", request_time=1.5)
    sample = bw.parse_access_line(line, bw.server_colours(POOLS))
    assert sample["colour"] == bw.UNKNOWN and sample["latency_ms"] == pytest.approx(1500.0)


def test_log_lines_of_other_apps_and_broken_lines_are_skipped():
    colours = bw.server_colours(POOLS)
    assert bw.parse_access_line(log_line(T0, app="admin"), colours, app="shop") is None
    assert bw.parse_access_line('127.0.0.1 - - [29/Nov/2026] "GET / HTTP/1.1" 200', colours) is None
    assert bw.parse_access_line('{"msec": "x", "status": 200}', colours) is None
    assert bw.parse_access_line(log_line(T0), colours, app="shop") is not None


def test_log_format_names_every_field_the_parser_reads():
    for variable in ("$msec", "$status", "$upstream_addr", "$upstream_response_time", "$request_time",
                     "$upstream_http_x_app_color", "$proxy_host"):
        assert variable in NGINX_LOG_FORMAT
    rendered = (NGINX_LOG_FORMAT.replace("$msec", str(T0)).replace("$status", "503")
                .replace("$proxy_host", "shop").replace("$upstream_addr", "127.0.0.1:8001")
                .replace("$upstream_status", "503").replace("$upstream_response_time", "0.010")
                .replace("$request_time", "0.011").replace("$upstream_http_x_app_color", ""))
    sample = bw.parse_access_line(rendered, bw.server_colours(POOLS), app="shop")
    assert sample == {"at": T0, "colour": "blue", "status": 503, "latency_ms": pytest.approx(10.0),
                      "error": True, "no_answer": False}


def test_log_tail_reads_only_new_whole_lines_and_follows_rotation(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("old line\n")
    tail = bw.LogTail(str(log))
    assert tail.read_lines() == []  # starts at the end: history is not this switch's traffic
    with log.open("a") as handle:
        handle.write("one\ntw")
    assert tail.read_lines() == ["one"]
    with log.open("a") as handle:
        handle.write("o\n")
    assert tail.read_lines() == ["two"]
    os.rename(log, tmp_path / "access.log.1")
    log.write_text("after rotation\n")
    assert tail.read_lines() == ["after rotation"]
    log.write_text("")  # truncated in place
    with log.open("a") as handle:
        handle.write("x\n")
    assert tail.read_lines() == ["x"]
    assert bw.LogTail(str(tmp_path / "missing.log")).read_lines() == []


# --- windows and statistics -------------------------------------------------------------------
def test_sample_stats_counts_errors_and_uses_nearest_rank_percentiles():
    data = [{"at": T0, "colour": "green", "status": 200, "latency_ms": float(ms), "error": False,
             "no_answer": False} for ms in range(1, 101)]
    data[0].update(status=500, error=True)
    data[1].update(status=502, error=True, no_answer=True)
    stats = sample_stats(data)
    assert stats["requests"] == 100 and stats["errors"] == 2
    assert stats["errors_5xx"] == 1 and stats["no_answer"] == 1
    assert stats["error_rate"] == 0.02
    assert (stats["p50_ms"], stats["p95_ms"], stats["p99_ms"]) == (50.0, 95.0, 99.0)
    assert sample_stats([]) == empty_stats()


def test_request_window_drops_samples_older_than_the_window():
    window = bw.RequestWindow(10)
    for sample in samples(5, T0, "blue") + samples(3, T0 + 8, "green", error_every=1):
        window.add(sample)
    stats = window.stats(T0 + 9)
    assert stats["blue"]["requests"] == 5 and stats["green"]["errors"] == 3
    stats = window.stats(T0 + 12)
    assert "blue" not in stats and stats["green"]["requests"] == 3


STAT = (HERE / "haproxy26_show_stat.csv").read_text()


def test_haproxy_counters_from_a_real_show_stat():
    # HAProxy 2.6, backend shop: 3 requests answered by blue-1, 3 whose connection to green-1 failed.
    counters = bw.haproxy_counters(parse_stat(STAT), "shop")
    assert counters["blue"]["requests"] == 3 and counters["blue"]["no_answer"] == 0
    assert counters["green"]["requests"] == 3 and counters["green"]["no_answer"] == 3
    assert bw.haproxy_counters(parse_stat(STAT), "other") == {}


def counters(blue_requests, green_requests, green_5xx=0, green_no_answer=0):
    return {"blue": {"requests": blue_requests, "errors_5xx": 0, "no_answer": 0, "rtime_weighted": 0.0},
            "green": {"requests": green_requests, "errors_5xx": green_5xx, "no_answer": green_no_answer,
                      "rtime_weighted": 12.0 * green_requests}}


def test_counter_window_gives_the_differences_over_the_window():
    window = bw.CounterWindow(10)
    assert window.stats(T0) == {}
    window.add(T0, counters(100, 0))
    window.add(T0 + 5, counters(150, 10))
    window.add(T0 + 10, counters(150, 110, green_5xx=20, green_no_answer=5))
    stats = window.stats(T0 + 10)
    assert stats["green"]["requests"] == 110 and stats["green"]["errors"] == 25
    assert stats["green"]["error_rate"] == pytest.approx(25 / 110, abs=1e-4)
    assert stats["green"]["p95_ms"] is None and stats["green"]["latency_avg_ms"] == 12.0
    window.add(T0 + 15, counters(150, 120, green_5xx=20, green_no_answer=5))
    stats = window.stats(T0 + 15)  # the baseline moved to T0 + 5
    assert stats["green"]["requests"] == 110 and stats["blue"]["requests"] == 0


def test_counter_window_skips_a_colour_whose_counters_went_back_after_a_restart():
    window = bw.CounterWindow(10)
    window.add(T0, counters(100, 100))
    window.add(T0 + 5, counters(3, 4))
    assert window.stats(T0 + 5) == {}


# --- the watch ---------------------------------------------------------------------------------
def watching(**overrides):
    watch = bw.Watch(options(**overrides))
    event = watch.observe(metadata(active="blue", previous=None, at=T0 - 3600), T0)
    assert event["type"] == "switch" and event["kind"] == "initial" and not event["watching"]
    event = watch.observe(metadata(), T0)
    assert event["kind"] == "switch" and event["watching"] and event["live"] == "green"
    return watch


def test_bad_windows_in_a_row_give_one_rollback_verdict_then_nothing_more():
    watch = watching()
    verdicts = [watch.judge(stats_for(100, error_every=2), T0 + 10 * n)["verdict"] for n in range(1, 6)]
    assert verdicts == ["none", "none", "rollback", "rollback_requested", "rollback_requested"]
    assert watch.observe(metadata(), T0 + 60) is None  # same switch: no new event


def test_the_rollback_window_says_why_with_its_figures():
    watch = watching(bad_windows=1)
    event = watch.judge(stats_for(40, error_every=4), T0 + 10)
    assert event["verdict"] == "rollback" and event["bad_windows"] == 1
    assert event["breaches"] == ["error rate 25.0 % > 5.0 %"]
    assert "40 requests" in event["decision"] and "ROLL BACK to blue" in event["decision"]
    assert event["previous"] == "blue" and event["switch_id"].endswith("/green")


def test_a_good_window_or_one_without_enough_traffic_resets_the_count():
    watch = watching()
    assert watch.judge(stats_for(100, error_every=2), T0 + 10)["bad_windows"] == 1
    assert watch.judge(stats_for(100), T0 + 20)["bad_windows"] == 0
    assert watch.judge(stats_for(100, error_every=2), T0 + 30)["bad_windows"] == 1
    event = watch.judge(stats_for(9, error_every=1), T0 + 40)
    assert event["bad_windows"] == 0 and event["verdict"] == "none"
    assert "not enough traffic" in event["reason"]


def test_no_traffic_never_fires():
    watch = watching(bad_windows=1)
    for n in range(1, 20):
        event = watch.judge({}, T0 + 10 * n)
        assert event["verdict"] == "none" and event["live_stats"]["requests"] == 0


def test_p95_over_the_threshold_is_a_bad_window():
    watch = watching(bad_windows=1)
    event = watch.judge(stats_for(50, latency_ms=800.0), T0 + 10)
    assert event["verdict"] == "rollback" and event["breaches"] == ["p95 800 ms > 500 ms"]
    watch = watching(bad_windows=1, max_p95_ms=0)  # 0 turns the latency check off
    assert watch.judge(stats_for(50, latency_ms=800.0), T0 + 10)["verdict"] == "none"


def test_errors_of_the_colour_that_is_not_live_do_not_count():
    watch = watching(bad_windows=1)
    stats = {**stats_for(100), **stats_for(100, error_every=1, colour="blue")}
    assert watch.judge(stats, T0 + 10)["verdict"] == "none"


def test_nothing_fires_after_the_watch_period():
    watch = watching(bad_windows=1, watch_period=60)
    event = watch.judge(stats_for(100, error_every=1), T0 + 61)
    assert event["verdict"] == "none" and not event["watching"]
    assert "watch period is over" in event["reason"]


def test_a_switch_back_within_the_watch_period_is_a_rollback_and_is_not_watched():
    watch = watching(bad_windows=1)
    assert watch.judge(stats_for(100, error_every=1), T0 + 10)["verdict"] == "rollback"
    event = watch.observe(metadata(active="blue", previous="green", at=T0 + 15), T0 + 16)
    assert event["kind"] == "rollback" and not event["watching"]
    # Blue failing now is not rolled back to the bad release: no flapping.
    for n in range(2, 10):
        assert watch.judge(stats_for(100, error_every=1, colour="blue"), T0 + 10 * n)["verdict"] == "none"
    # The next real switch is watched again.
    event = watch.observe(metadata(active="green", previous="blue", at=T0 + 700), T0 + 701)
    assert event["kind"] == "switch" and event["watching"]
    assert watch.judge(stats_for(100, error_every=1), T0 + 710)["verdict"] == "rollback"


def test_switching_forward_again_after_a_rollback_is_watched():
    watch = watching(bad_windows=1)
    assert watch.judge(stats_for(100, error_every=1), T0 + 10)["verdict"] == "rollback"
    assert watch.observe(metadata(active="blue", previous="green", at=T0 + 15), T0 + 16)["kind"] == "rollback"
    # A person switches to green again (a fixed build) within the first switch's watch period.
    event = watch.observe(metadata(active="green", previous="blue", at=T0 + 120), T0 + 121)
    assert event["kind"] == "switch" and event["watching"]
    assert watch.judge(stats_for(100, error_every=1), T0 + 130)["verdict"] == "rollback"


def test_the_same_colour_change_after_the_watch_period_is_a_new_release():
    watch = watching(watch_period=60)
    event = watch.observe(metadata(active="blue", previous="green", at=T0 + 300), T0 + 301)
    assert event["kind"] == "switch" and event["watching"]


def test_a_switch_seen_at_start_is_watched_only_within_the_watch_period():
    watch = bw.Watch(options(watch_period=600))
    assert watch.observe(metadata(at=T0), T0 + 30)["watching"]
    watch = bw.Watch(options(watch_period=600))
    assert not watch.observe(metadata(at=T0), T0 + 601)["watching"]


def test_weighted_traffic_is_not_watched():
    watch = bw.Watch(options())
    event = watch.observe(metadata(active=None, weights={"blue": 90, "green": 10}), T0 + 1)
    assert not event["watching"] and "weighted" in event["reason"]
    assert watch.judge(stats_for(100, error_every=1), T0 + 10)["verdict"] == "none"


def test_missing_metadata_gives_no_switch_and_no_verdict():
    watch = bw.Watch(options(bad_windows=1))
    assert watch.observe(None, T0) is None
    event = watch.judge(stats_for(100, error_every=1), T0)
    assert event["verdict"] == "none" and "no managed-file metadata" in event["reason"]


# --- notices -----------------------------------------------------------------------------------
def test_fleet_split_notice_once_when_the_old_colour_still_serves_after_the_switch():
    watch = watching()
    stats = {**stats_for(80), **stats_for(20, colour="blue")}
    assert watch.split_notice(stats, T0 + 15) is None  # the window still holds pre-switch requests
    notice = watch.split_notice(stats, T0 + 30)
    assert notice["notice"] == "fleet_split" and notice["share_not_live"] == 0.2
    assert watch.split_notice(stats, T0 + 40) is None


def test_no_fleet_split_notice_for_a_trickle_or_no_traffic():
    watch = watching()
    assert watch.split_notice({**stats_for(99), **stats_for(1, colour="blue")}, T0 + 30) is None
    assert watch.split_notice({}, T0 + 30) is None


def test_previous_retired_notice_after_consecutive_failed_probes_once():
    watch = watching(retired_after=2)
    assert watch.retired_notice(False, T0 + 10) is None
    assert watch.retired_notice(True, T0 + 20) is None  # answered again: count restarts
    assert watch.retired_notice(False, T0 + 30) is None
    notice = watch.retired_notice(False, T0 + 40)
    assert notice["notice"] == "previous_retired" and "blue stopped answering" in notice["reason"]
    assert watch.retired_notice(False, T0 + 50) is None
    assert bw.previous_servers(watch.switch) == ["127.0.0.1:8001"]


# --- one interval, end to end on files ---------------------------------------------------------
def test_step_reads_the_managed_file_and_the_log(tmp_path):
    managed = tmp_path / "bluegreen_shop.conf"
    managed.write_text("# Managed by switchyard.bluegreen.nginx_upstream. Manual edits are overwritten.\n"
                       "# switchyard.bluegreen.nginx_upstream: " + json.dumps(metadata(at=T0)) + "\n"
                       "upstream shop { server 127.0.0.1:8002; }\n")
    log = tmp_path / "access.log"
    log.write_text("")
    opts = options(managed_file=str(managed), access_log=str(log), bad_windows=1)
    watch, sampler = bw.Watch(opts), bw.Sampler(opts)
    probes = []

    def probe(address, timeout):
        probes.append(address)
        return True

    events = bw.step(watch, sampler, opts, T0 + 5, probe=probe)
    assert [e["type"] for e in events] == ["switch", "window"]
    log.write_text("".join(log_line(T0 + 6, status=500) + "\n" for _n in range(20)))
    events = bw.step(watch, sampler, opts, T0 + 7, probe=probe)
    assert [e["type"] for e in events] == ["window"]
    assert events[0]["verdict"] == "rollback" and events[0]["live_stats"]["errors_5xx"] == 20
    assert probes == ["127.0.0.1:8001", "127.0.0.1:8001"]
    assert bw.read_metadata(str(tmp_path / "missing.conf"), "nginx") is None
