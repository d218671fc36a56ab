# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Judging a burst: percentiles, counts per failure kind and header value, thresholds, the summary line."""

from __future__ import annotations

import math
from fractions import Fraction

# Failure kinds, in the order they are reported.
FAILURE_KINDS = ("connection", "timeout", "tls", "protocol", "status", "body", "header", "error")
PERCENTILES = (50, 95, 99)
MISSING_HEADER = "(missing)"


def percentile(values, pct):
    """Nearest-rank percentile: the smallest value with at least pct % of the values <= it.

    rank = ceil(pct / 100 * n), 1-based, over the sorted values. The result is always one of
    the measured values (no interpolation), which is the usual reading of an SLO such as
    "95 % of requests faster than 300 ms". Exact arithmetic avoids float rounding of the rank.
    Returns None for no values.
    """
    if not values:
        return None
    fraction = Fraction(str(pct))
    if fraction <= 0 or fraction > 100:
        raise ValueError(f"percentile must be in (0, 100], got {pct}")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def latency_stats(latencies_ms):
    """min, p50, p95, p99, max and mean in milliseconds (None each when there are no values)."""
    stats = {"count": len(latencies_ms)}
    for pct in PERCENTILES:
        stats[f"p{pct}"] = round_ms(percentile(latencies_ms, pct))
    if latencies_ms:
        stats["min"] = round_ms(min(latencies_ms))
        stats["max"] = round_ms(max(latencies_ms))
        stats["mean"] = round_ms(sum(latencies_ms) / len(latencies_ms))
    else:
        stats["min"] = stats["max"] = stats["mean"] = None
    return stats


def round_ms(value):
    return None if value is None else round(value, 2)


def evaluate(spec, results):
    """Aggregate results and apply the thresholds. Returns the module's result fields."""
    total = len(results)
    failed = [r for r in results if r["kind"] is not None]
    # Latency is measured over every complete HTTP answer, whatever its status.
    latencies = [r["latency_ms"] for r in results if r["status"] is not None and r["latency_ms"] is not None]
    header_counts = _tally_header(spec.count_header, results) if spec.count_header else {}
    result = {
        "requests": total,
        "successes": total - len(failed),
        "failures": len(failed),
        "error_rate": round(len(failed) / total, 6) if total else 0.0,
        "failure_kinds": _count(r["kind"] for r in failed),
        "status_codes": _count(str(r["status"]) for r in results if r["status"] is not None),
        "latency_ms": latency_stats(latencies),
        "header_counts": header_counts,
        "failure_samples": sample_failures(failed, spec.max_failure_samples),
    }
    missed = []
    if total and Fraction(len(failed), total) > Fraction(str(spec.max_error_rate)):
        missed.append(f"error rate {_pct(len(failed) / total)} > {_pct(spec.max_error_rate)}")
    for pct, limit in sorted(spec.max_latency_ms.items()):
        value = percentile(latencies, pct)
        if value is None:
            missed.append(f"p{pct} latency unknown (no HTTP answers), limit {number_text(limit)} ms")
        elif value > limit:
            missed.append(f"p{pct} latency {number_text(value)} ms > {number_text(limit)} ms")
    if spec.expect_header_share:
        result["header_share"] = _header_share(spec, header_counts, missed)
    result["thresholds_missed"] = missed
    result["passed"] = not missed
    result["summary"] = summarize(spec, result)
    return result


def _count(keys):
    """Occurrences per key, in order of first appearance (failure kinds in FAILURE_KINDS order)."""
    counts = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    order = {kind: i for i, kind in enumerate(FAILURE_KINDS)}
    return dict(sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order))))


def _tally_header(name, results):
    """Values of header `name` over all HTTP answers (any status); MISSING_HEADER when absent."""
    values = []
    for r in results:
        if r["headers"] is not None:
            value = r["headers"].get(name)
            values.append(MISSING_HEADER if value is None else value)
    return _count(values)


def _header_share(spec, header_counts, missed):
    """Share of HTTP answers whose count_header equals the wanted value; appends to missed if too low."""
    wanted = spec.expect_header_share["value"]
    minimum = spec.expect_header_share["min"]
    answers = sum(header_counts.values())
    hits = header_counts.get(wanted, 0)
    share = hits / answers if answers else 0.0
    if answers == 0 or Fraction(hits, answers) < Fraction(str(minimum)):
        missed.append(f"{spec.count_header}={wanted} share {_pct(share)} < {_pct(minimum)}")
    return {"value": wanted, "share": round(share, 6), "min": minimum, "answers": answers, "count": hits}


def sample_failures(failed, limit):
    """Up to `limit` failures, one of each kind first so a rare kind is not hidden by a common one."""
    chosen = []
    seen_kinds = set()
    for r in failed:
        if len(chosen) >= limit:
            break
        if r["kind"] not in seen_kinds:
            seen_kinds.add(r["kind"])
            chosen.append(r)
    for r in failed:
        if len(chosen) >= limit:
            break
        if r not in chosen:
            chosen.append(r)
    return [{"url": r["url"], "kind": r["kind"], "reason": r["reason"], "status": r["status"],
             "latency_ms": round_ms(r["latency_ms"])} for r in chosen]


def summarize(spec, result):
    """One line for the job log: verdict and what missed, counts, latency, tallies, target."""
    verdict = "PASSED" if result["passed"] else "FAILED ({})".format("; ".join(result["thresholds_missed"]))
    parts = [f"http_check {verdict}: {result['successes']}/{result['requests']} ok"]
    if result["failure_kinds"]:
        parts.append("failures " + _pairs(result["failure_kinds"].items()))
    lat = result["latency_ms"]
    if lat["count"]:
        parts.append("latency ms " + " ".join(f"{key} {number_text(lat[key])}" for key in ("p50", "p95", "p99", "max")))
    if result["status_codes"]:
        parts.append("status " + _pairs(sorted(result["status_codes"].items())))
    if spec.count_header:
        tally = _pairs(sorted(result["header_counts"].items(), key=lambda kv: -kv[1]))
        parts.append(f"{spec.count_header} {tally or 'none'}")
    parts.append(f"{len(spec.urls)} URLs" if len(spec.urls) > 1 else spec.urls[0])
    return "; ".join(parts)


def _pairs(items):
    return ", ".join(f"{key}={value}" for key, value in items)


def _pct(fraction):
    return f"{number_text(round(fraction * 100, 2))}%"


def number_text(value):
    """Compact number for the summary: 3, 3.5, 12.25."""
    if value is None:
        return "n/a"
    return (f"{value:.2f}").rstrip("0").rstrip(".")
