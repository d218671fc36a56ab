# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traffic_stats module's work: its argument spec, and one measured window at nginx or HAProxy."""

from __future__ import annotations

import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError, InputError

from .access_log import read_samples, server_colours
from .stats import counter_diff, haproxy_counters, stats_by_colour
from .verdict import judge, summary_line


def argument_spec():
    return {
        "router": {"type": "str", "required": True, "choices": ["nginx", "haproxy"]},
        "access_log": {"type": "path"},
        "admin_socket": {"type": "path"},
        "name": {"type": "str"},
        "pools": {"type": "dict", "default": {}},
        "window": {"type": "float", "default": 30},
        "target": {"type": "str"},
        "previous": {"type": "str"},
        "max_error_rate": {"type": "float", "default": 0.01},
        "max_latency_p95_ms": {"type": "float"},
        "min_requests": {"type": "int", "default": 20},
        "timeout": {"type": "float", "default": 5},
    }


MODULE_RULES = {
    "required_if": [("router", "nginx", ("access_log",)), ("router", "haproxy", ("admin_socket", "name"))],
}


def check(params):
    if params["window"] < 0:
        raise InputError(f"window must be 0 or more seconds, got {params['window']}")
    if not 0 <= params["max_error_rate"] <= 1:
        raise InputError(f"max_error_rate is a fraction between 0 and 1 (0.01 for 1 %), got {params['max_error_rate']}")
    if params["min_requests"] < 1:
        raise InputError(f"min_requests must be at least 1, got {params['min_requests']}")
    if params["previous"] and not params["target"]:
        raise InputError("previous needs target: set target to the new colour to judge")


def _haproxy_read(api, name):
    from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import parse_stat  # noqa: PLC0415

    return haproxy_counters(parse_stat(api.execute("show stat")), name)


def measure(params, sleep=time.sleep, clock=time.time):
    """{colors, verdict, summary, started_at, ended_at} for one window of params["window"] seconds."""
    check(params)
    started = clock()
    if params["router"] == "haproxy":
        from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import (  # noqa: PLC0415
            RuntimeApi,
        )

        api = RuntimeApi(params["admin_socket"], timeout=params["timeout"])
        first = _haproxy_read(api, params["name"])
        sleep(params["window"])
        ended = clock()
        colours = counter_diff(first, _haproxy_read(api, params["name"]))
    else:
        sleep(params["window"])
        ended = clock()
        try:
            samples = read_samples(params["access_log"], started, ended, server_colours(params["pools"]),
                                   app=params["name"])
        except OSError as exc:
            raise ExternalError(f"cannot read access_log {params['access_log']}: {exc.strerror or exc}; enable the "
                                "nginx role's nginx_traffic_log (log_format switchyard_bluegreen) or set access_log "
                                "to that log's path") from None
        colours = stats_by_colour(samples)
    verdict = None
    if params["target"]:
        verdict = judge(colours, params["target"], params["previous"], max_error_rate=params["max_error_rate"],
                        max_latency_p95_ms=params["max_latency_p95_ms"], min_requests=params["min_requests"])
    judged = verdict or {"verdict": "measured", "reasons": []}
    summary = summary_line(colours, params["target"], params["previous"], judged)
    return {"colors": colours, "verdict": verdict, "summary": summary, "started_at": round(started, 3),
            "ended_at": round(ended, 3)}
