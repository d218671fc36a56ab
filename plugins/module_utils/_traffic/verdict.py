# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A step's verdict: the new colour's figures against thresholds, relative to the old colour's in the same window.

pass          the new colour had at least min_requests requests and breached nothing;
fail          its error rate is more than max_error_rate above the old colour's (the old colour's
              rate counts only when it had min_requests requests itself, otherwise 0), or its p95
              is above max_latency_p95_ms and above the old colour's p95;
inconclusive  fewer than min_requests requests reached the new colour: neither pass nor fail.
Comparing with the old colour makes the verdict about the release, not about the day's traffic:
a backend both colours share failing fails both alike.
"""

from __future__ import annotations

from .stats import empty_stats

VERDICTS = ("pass", "fail", "inconclusive")


def _pct(rate):
    return f"{rate * 100:.1f} %"


def judge(colours, target, previous, *, max_error_rate, max_latency_p95_ms=None, min_requests=1):
    """{verdict, reasons, target, previous, excess_error_rate, thresholds} for one window's per-colour stats."""
    new = colours.get(target) or empty_stats()
    old = (colours.get(previous) or empty_stats()) if previous else empty_stats()
    old_counts = old["requests"] >= min_requests
    baseline_rate = old["error_rate"] if old_counts else 0.0
    excess = round(new["error_rate"] - baseline_rate, 4)
    reasons = []
    if new["requests"] < min_requests:
        verdict = "inconclusive"
        reasons.append(f"{target} had {new['requests']} requests, fewer than min_requests {min_requests}")
    else:
        if excess > max_error_rate:
            reasons.append(f"{target} error rate {_pct(new['error_rate'])} is {_pct(excess)} above "
                           f"{previous or 'none'}'s {_pct(baseline_rate)}, more than max_error_rate "
                           f"{_pct(max_error_rate)}")
        p95 = new["p95_ms"]
        old_p95 = old["p95_ms"] if old_counts else None
        if max_latency_p95_ms and p95 is not None and p95 > max_latency_p95_ms and (old_p95 is None or p95 > old_p95):
            reasons.append(f"{target} p95 {p95:g} ms is above max_latency_p95_ms {max_latency_p95_ms:g} ms"
                           + ("" if old_p95 is None else f" and {previous}'s {old_p95:g} ms"))
        verdict = "fail" if reasons else "pass"
    return {
        "verdict": verdict,
        "reasons": reasons,
        "target": target,
        "previous": previous,
        "excess_error_rate": excess,
        "thresholds": {"max_error_rate": max_error_rate, "max_latency_p95_ms": max_latency_p95_ms,
                       "min_requests": min_requests},
    }


def summary_line(colours, target, previous, verdict):
    """One line: requests, error rates and p95 per colour, then the verdict (and why)."""
    parts = []
    for colour in [c for c in (target, previous) if c] + sorted(set(colours) - {target, previous}):
        stats = colours.get(colour) or empty_stats()
        p95 = "n/a" if stats["p95_ms"] is None else f"{stats['p95_ms']:g} ms"
        parts.append(f"{colour} {stats['requests']} req, {_pct(stats['error_rate'])} errors "
                     f"(5xx {stats['errors_5xx']}, no answer {stats['no_answer']}), p95 {p95}")
    line = "; ".join(parts) + f": {verdict['verdict']}"
    if verdict["reasons"]:
        line += " (" + "; ".join(verdict["reasons"]) + ")"
    return line
