# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-colour statistics: from request samples (nginx access log) and from HAProxy ``show stat`` counters."""

from __future__ import annotations

import collections

from ansible_collections.switchyard.bluegreen.plugins.module_utils._http.evaluate import percentile


def empty_stats():
    return {"requests": 0, "errors": 0, "errors_5xx": 0, "no_answer": 0, "error_rate": 0.0,
            "p50_ms": None, "p95_ms": None, "p99_ms": None, "latency_avg_ms": None}


def _round(value, digits=2):
    return None if value is None else round(value, digits)


def sample_stats(samples):
    """Request count, error counts and rate, latency percentiles (nearest rank) of request samples."""
    stats = empty_stats()
    latencies = [s["latency_ms"] for s in samples if s["latency_ms"] is not None]
    stats["requests"] = len(samples)
    stats["errors"] = sum(1 for s in samples if s["error"])
    stats["no_answer"] = sum(1 for s in samples if s["no_answer"])
    stats["errors_5xx"] = stats["errors"] - stats["no_answer"]
    stats["error_rate"] = round(stats["errors"] / stats["requests"], 4) if samples else 0.0
    for pct in (50, 95, 99):
        stats[f"p{pct}_ms"] = _round(percentile(latencies, pct))
    stats["latency_avg_ms"] = _round(sum(latencies) / len(latencies)) if latencies else None
    return stats


def stats_by_colour(samples):
    """Colour -> sample_stats of the samples of that colour."""
    by_colour = collections.defaultdict(list)
    for sample in samples:
        by_colour[sample["colour"]].append(sample)
    return {colour: sample_stats(items) for colour, items in by_colour.items()}


class RequestWindow:
    """Request samples of the last ``seconds`` (nginx: one sample per access-log line)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.samples = collections.deque()

    def add(self, sample):
        self.samples.append(sample)

    def stats(self, now):
        """Colour -> stats of the samples in (now - seconds, now]."""
        start = now - self.seconds
        while self.samples and self.samples[0]["at"] <= start:
            self.samples.popleft()
        return stats_by_colour([s for s in self.samples if s["at"] <= now])


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def haproxy_counters(rows, backend):
    """Colour -> cumulative counters from ``show stat`` rows of ``backend``'s servers (named <colour>-<n>).

    requests: req_tot + econ (HAProxy 2.6 counts in req_tot only the requests a server got, and a
    request whose connection failed, after its retries, once in econ; stot counts every retry);
    errors_5xx: hrsp_5xx; no_answer: eresp + econ (HAProxy answered the client 502/503/504 itself);
    rtime: HAProxy's moving average response time (last 1024 requests), weighted by requests.
    """
    counters = {}
    for row in rows:
        name = row.get("svname", "")
        if row.get("pxname") != backend or name in ("FRONTEND", "BACKEND") or "-" not in name:
            continue
        colour = name.rsplit("-", 1)[0]
        entry = counters.setdefault(colour, {"requests": 0, "errors_5xx": 0, "no_answer": 0, "rtime_weighted": 0.0})
        if row.get("req_tot", "") != "":
            requests = _int(row.get("req_tot")) + _int(row.get("econ"))
        else:
            requests = _int(row.get("stot"))
        entry["requests"] += requests
        entry["errors_5xx"] += _int(row.get("hrsp_5xx"))
        entry["no_answer"] += _int(row.get("eresp")) + _int(row.get("econ"))
        entry["rtime_weighted"] += _int(row.get("rtime")) * requests
    return counters


def counter_diff(first, last):
    """Colour -> stats between two haproxy_counters snapshots.

    A colour whose counters went down (HAProxy restarted) has no baseline and is left out.
    HAProxy keeps no per-request latencies: the percentiles stay None and latency_avg_ms is its
    moving average response time.
    """
    result = {}
    for colour, newest in last.items():
        oldest = first.get(colour, {})
        requests = newest["requests"] - oldest.get("requests", 0)
        errors_5xx = newest["errors_5xx"] - oldest.get("errors_5xx", 0)
        no_answer = newest["no_answer"] - oldest.get("no_answer", 0)
        if min(requests, errors_5xx, no_answer) < 0:
            continue
        stats = empty_stats()
        stats.update(requests=requests, errors_5xx=errors_5xx, no_answer=no_answer, errors=errors_5xx + no_answer)
        stats["error_rate"] = round(min(1.0, stats["errors"] / requests), 4) if requests else 0.0
        if newest["requests"]:
            stats["latency_avg_ms"] = _round(newest["rtime_weighted"] / newest["requests"])
        result[colour] = stats
    return result


class CounterWindow:
    """Snapshots of cumulative per-colour counters; the window's figures are the differences."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.snapshots = collections.deque()

    def add(self, at, counters):
        self.snapshots.append((at, counters))

    def stats(self, now):
        # Keep the newest snapshot at or before the window's start as the baseline.
        start = now - self.seconds
        while len(self.snapshots) > 1 and self.snapshots[1][0] <= start:
            self.snapshots.popleft()
        if len(self.snapshots) < 2:
            return {}
        return counter_diff(self.snapshots[0][1], self.snapshots[-1][1])
