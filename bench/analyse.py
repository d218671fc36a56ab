# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Turn the raw request records and switch events of one phase into the benchmark's numbers.

Definitions (every time is CLOCK_MONOTONIC, from the start of the switch command):
  both-colours window  from the first answer of the new colour to the last answer of the old colour,
                       over all three client kinds (0 when the old colour never answered after the new one)
  all new after        when the last request that still reached the old colour was sent; every request
                       sent later got the new colour
  old gone             when the last worker process of the previous nginx generation had exited
                       (polled every 5 ms; none for HAProxy's runtime API, which replaces no process)
  errors               requests of the switch's interval (from its start to the next switch's start)
                       that got no HTTP answer (connection refused/reset, EOF, timeout)
"""

from __future__ import annotations

import bisect
import csv
import statistics

KINDS = ("new", "ka_retry", "ka_noretry")
KIND_LABELS = {
    "new": "new connection per request",
    "ka_retry": "keepalive, one retry on a stale connection",
    "ka_noretry": "keepalive, no retry (wrk-like)",
}


def load_rows(path):
    rows = []
    with open(path, encoding="ascii") as handle:
        for row in csv.DictReader(handle):
            rows.append((float(row["t_send"]), float(row["t_done"]), row["colour"], int(row["status"]),
                         row["error"], int(row["retried"])))
    rows.sort()
    return rows


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def kind_totals(rows, t_from, t_to):
    """Totals of one client kind between t_from and t_to (by send time)."""
    lo = bisect.bisect_left(rows, (t_from,))
    hi = bisect.bisect_left(rows, (t_to,))
    part = rows[lo:hi]
    errors = {}
    non_2xx = 0
    retried = 0
    for _t_send, _t_done, _colour, status, error, was_retried in part:
        retried += was_retried
        if error:
            errors[error] = errors.get(error, 0) + 1
        elif not 200 <= status < 300:
            non_2xx += 1
    return {"requests": len(part), "non_2xx": non_2xx, "conn_errors": sum(errors.values()),
            "error_kinds": errors, "retried": retried,
            "rate": len(part) / (t_to - t_from) if t_to > t_from else 0.0}


def switch_metrics(rows_by_kind, switch, t_next):
    """The window, convergence and per-kind errors of one switch."""
    start, old, new = switch["t_start"], switch["from"], switch["to"]
    first_new = None
    last_old_done = None
    last_old_sent = None
    for rows in rows_by_kind.values():
        lo = bisect.bisect_left(rows, (start - 5.0,))
        hi = bisect.bisect_left(rows, (t_next,))
        for t_send, t_done, colour, _status, error, _retried in rows[lo:hi]:
            if error or t_done < start:
                continue
            if colour == new and (first_new is None or t_done < first_new):
                first_new = t_done
            elif colour == old:
                if last_old_done is None or t_done > last_old_done:
                    last_old_done = t_done
                if t_send >= start and (last_old_sent is None or t_send > last_old_sent):
                    last_old_sent = t_send
    window = 0.0
    if first_new is not None and last_old_done is not None:
        window = max(0.0, last_old_done - first_new)
    result = {
        "i": switch["i"], "from": old, "to": new,
        "command_s": switch["t_end"] - start,
        "window_s": window,
        "all_new_after_s": (last_old_sent - start) if last_old_sent is not None else 0.0,
        "first_new_s": (first_new - start) if first_new is not None else None,
        "old_gone_s": (switch["t_gone"] - start) if switch.get("t_gone") is not None else None,
        "ok": switch["tool"].get("ok", False),
        "errors": {kind: kind_totals(rows, start, t_next)["conn_errors"] for kind, rows in rows_by_kind.items()},
        "non_2xx": {kind: kind_totals(rows, start, t_next)["non_2xx"] for kind, rows in rows_by_kind.items()},
    }
    timings = switch["tool"].get("timings")
    if timings:
        result["timings"] = timings
    if "wall_s" in switch["tool"]:
        result["wall_s"] = switch["tool"]["wall_s"]
    if "playbook" in switch["tool"]:
        result["playbook"] = switch["tool"]["playbook"]
    if switch["tool"].get("timeline"):
        result["timeline"] = switch["tool"]["timeline"]
    return result


def analyse_phase(phase):
    rows_by_kind = {kind: load_rows(path) for kind, path in phase["load_files"].items()}
    switches = phase["switches"]
    per_switch = []
    for index, switch in enumerate(switches):
        t_next = switches[index + 1]["t_start"] if index + 1 < len(switches) else phase["t_load_stop"]
        per_switch.append(switch_metrics(rows_by_kind, switch, t_next))
    t_from, t_to = phase["t_load_start"], phase["t_load_stop"]
    totals = {kind: kind_totals(rows, t_from, t_to) for kind, rows in rows_by_kind.items()}
    done = [s for s in per_switch if s["ok"]]  # a failed switch moved no traffic: no window to measure
    summary = {
        "switches": len(per_switch),
        "failed_switches": len(per_switch) - len(done),
        "window_s": stats([s["window_s"] for s in done]),
        "all_new_after_s": stats([s["all_new_after_s"] for s in done]),
        "old_gone_s": stats([s["old_gone_s"] for s in done]),
        "command_s": stats([s["command_s"] for s in per_switch]),
        "switches_with_errors": {kind: sum(1 for s in per_switch if s["errors"][kind]) for kind in rows_by_kind},
    }
    timing_keys = ("validate_ms", "reload_ms", "drain_ms", "total_ms")
    if any("timings" in s for s in per_switch):
        summary["module_ms"] = {key: stats([s["timings"].get(key) for s in per_switch if "timings" in s])
                                for key in timing_keys}
    walls = {}
    for s in per_switch:
        if "wall_s" in s:
            walls.setdefault(s.get("playbook", "all"), []).append(s["wall_s"])
    if walls:
        summary["wall_s"] = {name: stats(values) for name, values in walls.items()}
    if any("playbook" in s for s in per_switch):
        summary["per_playbook"] = per_playbook(per_switch)
    return {"key": phase["key"], "label": phase["label"], "router": phase["router"], "totals": totals,
            "summary": summary, "per_switch": per_switch, "usage": phase.get("usage", {}),
            "cpu_busy": phase.get("cpu_busy"), "duration_s": t_to - t_from}


def per_playbook(per_switch):
    """For each playbook: wall time, all-new-after and where its seconds went (bench/timeline.py), over its runs."""
    import timeline  # noqa: PLC0415 - bench/ is on sys.path wherever analyse is used

    found = {}
    for name in sorted({s["playbook"] for s in per_switch if "playbook" in s}):
        mine = [s for s in per_switch if s.get("playbook") == name]
        done = [s for s in mine if s["ok"]]
        found[name] = {
            "runs": len(mine), "failed": len(mine) - len(done),
            "wall_s": stats([s.get("wall_s") for s in done]),
            "all_new_after_s": stats([s["all_new_after_s"] for s in done]),
            "window_s": stats([s["window_s"] for s in done]),
            "where": timeline.aggregate([s["timeline"] for s in done if s.get("timeline")]),
        }
    return found


def representative(per_switch):
    """The switch whose both-colours window is the median one (ties: the earliest)."""
    done = [s for s in per_switch if s["ok"]]
    if not done:
        return None
    ordered = sorted(done, key=lambda s: (s["window_s"], s["i"]))
    return ordered[(len(ordered) - 1) // 2]


# --------------------------------------------------------------------------- the *_timings.py scripts


def add_switch_timings(samples, result, steps, wall_ms):
    """Append one switch's module-reported `timings` (for `steps`) and its process wall time to samples."""
    for step in steps:
        samples[step].append(result["timings"][step])
    samples["process_wall_ms"].append(round(wall_ms))


def print_step_table(samples):
    """median/min/max in ms of each step, as nginx_upstream_timings.py and haproxy_backend_timings.py print them."""
    print(f"{'step':<16}{'median':>8}{'min':>8}{'max':>8}  (ms)")
    for step, values in samples.items():
        print(f"{step:<16}{statistics.median(values):>8.0f}{min(values):>8}{max(values):>8}")
