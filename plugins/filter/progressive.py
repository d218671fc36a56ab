# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the switch role's progressive switch (bluegreen_steps).

Documentation: progressive_steps.yml, progressive_weights.yml and progressive_analysis.yml next to this file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.stats import empty_stats
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.verdict import _pct, judge, summary_line

ROUTERS_WITH_TRAFFIC = ("nginx", "haproxy")
STEP_KEYS = {"weight", "pause"}


def _number(value, what, kind=float):
    if isinstance(value, bool):
        raise AnsibleFilterError(f"{what} must be a number, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{what} must be a number, got {value!r}") from None


def parse_steps(text):
    """The compact text form (an AWX survey answer): "5:30, 25:60, 100" -> [{weight: 5, pause: 30}, ...]."""
    steps = []
    for number, item in enumerate((part.strip() for part in text.split(",")), start=1):
        if not item:
            continue
        weight, _sep, pause = item.partition(":")
        step = {"weight": weight.strip()}
        if pause.strip():
            step["pause"] = pause.strip()
        if not weight.strip():
            raise AnsibleFilterError(f"bluegreen_steps step {number} {item!r}: write weight:pause, e.g. 5:30")
        steps.append(step)
    return steps


def progressive_steps(steps, router, ttl=None, default_pause=60):
    """Checked steps: [{index, weight, pause, analyse}], weights rising to a final 100 (added when missing).

    Route53: every step below 100 % pauses at least the record's TTL, because resolvers keep
    answering with the previous weights for up to a TTL: a shorter pause would judge a split
    that clients have not reached yet.
    """
    if isinstance(steps, str):
        steps = parse_steps(steps)
    if isinstance(steps, (bytes, Mapping)) or not isinstance(steps, Sequence):
        raise AnsibleFilterError(f"bluegreen_steps must be a list of {{weight, pause}} steps, got {steps!r}")
    checked = []
    last = 0
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, Mapping):
            raise AnsibleFilterError(f"bluegreen_steps step {number} must be a dict like {{weight: 5, pause: 30}}, "
                                     f"got {step!r}")
        unknown = sorted(set(step) - STEP_KEYS)
        if unknown:
            raise AnsibleFilterError(f"bluegreen_steps step {number} has unknown keys {', '.join(unknown)}; "
                                     "a step has weight and pause")
        if "weight" not in step:
            raise AnsibleFilterError(f"bluegreen_steps step {number} needs weight (the target's share, 1 to 100)")
        weight = _number(step["weight"], f"bluegreen_steps step {number} weight", int)
        if not last < weight <= 100:
            raise AnsibleFilterError(f"bluegreen_steps step {number} weight {weight} must be above the previous "
                                     f"step's {last} and at most 100")
        default = 0 if weight == 100 else default_pause
        pause = _number(step.get("pause", default), f"bluegreen_steps step {number} pause")
        if pause < 0:
            raise AnsibleFilterError(f"bluegreen_steps step {number} pause must be 0 or more seconds, got {pause:g}")
        if weight < 100 and pause == 0:
            raise AnsibleFilterError(f"bluegreen_steps step {number} (weight {weight}) needs a pause above 0: a step "
                                     "below 100 % is there to be measured")
        if router == "route53" and ttl is not None and weight < 100 and pause < _number(ttl, "TTL"):
            raise AnsibleFilterError(
                f"bluegreen_steps step {number} pause {pause:g} s is shorter than the record's TTL {ttl} s: resolvers "
                f"keep the previous answer for up to a TTL, so the step would be judged before clients moved. Set "
                f"pause to at least {ttl}")
        checked.append({"index": number, "weight": weight, "pause": pause, "analyse": pause > 0})
        last = weight
    if not checked:
        raise AnsibleFilterError("bluegreen_steps is empty: give at least one step, or leave it unset for a "
                                 "one-step switch")
    if last != 100:
        checked.append({"index": len(checked) + 1, "weight": 100, "pause": 0, "analyse": False})
    return checked


def progressive_weights(weight, target, live):
    """The router weights for a step: {target: weight, live: 100 - weight}; None at 100 % (a plain switch)."""
    weight = _number(weight, "weight", int)
    if weight >= 100 or not live or live == target:
        return None
    return {target: weight, live: 100 - weight}


def _merge(stats_list):
    """One colour's stats over several router hosts: counts add up, percentiles take the worst host."""
    merged = empty_stats()
    for stats in stats_list:
        for key in ("requests", "errors", "errors_5xx", "no_answer"):
            merged[key] += int(stats.get(key) or 0)
        for key in ("p50_ms", "p95_ms", "p99_ms", "latency_avg_ms"):
            value = stats.get(key)
            if value is not None and (merged[key] is None or value > merged[key]):
                merged[key] = value
    merged["error_rate"] = round(merged["errors"] / merged["requests"], 4) if merged["requests"] else 0.0
    return merged


def progressive_analysis(measurements, step, target, previous, thresholds, *, probe=None):
    """A step's result from every router host's traffic_stats result (and an optional http_check result).

    Returns {step, weight, pause, colors, verdict, reasons, probe, line}. verdict: pass, fail,
    inconclusive, or not_analysed (no traffic measurement and no probe, e.g. Route53 without probes).
    A failed probe fails the step whatever the traffic says.
    """
    if not isinstance(step, Mapping):
        raise AnsibleFilterError(f"progressive_analysis: step must be a dict, got {step!r}")
    per_colour = {}
    measured = False
    for result in measurements or ():
        if not isinstance(result, Mapping) or result.get("skipped") or "colors" not in result:
            continue
        measured = True
        for colour, stats in (result.get("colors") or {}).items():
            per_colour.setdefault(colour, []).append(stats)
    colours = {colour: _merge(items) for colour, items in per_colour.items()}
    if measured:
        verdict = judge(colours, target, previous, max_error_rate=float(thresholds["max_error_rate"]),
                        max_latency_p95_ms=thresholds.get("max_latency_p95_ms") or None,
                        min_requests=int(thresholds["min_requests"]))
    else:
        verdict = {"verdict": "not_analysed", "reasons": []}
    probe_summary = None
    if probe and not probe.get("skipped") and "summary" in probe:
        probe_summary = probe["summary"]
        if probe.get("failed") or probe.get("passed") is False:
            verdict = {**verdict, "verdict": "fail", "reasons": [*verdict["reasons"], f"probe: {probe_summary}"]}
        elif verdict["verdict"] == "not_analysed":
            verdict = {**verdict, "verdict": "pass"}
    head = f"step {step.get('index')} weight {step.get('weight')} % for {step.get('pause', 0):g} s: "
    if measured:
        line = head + summary_line(colours, target, previous, verdict)
    else:
        line = head + f"{verdict['verdict']}" + (f" ({'; '.join(verdict['reasons'])})" if verdict["reasons"] else "")
    if probe_summary and measured:
        line += f"; probe: {probe_summary}"
    target_stats = colours.get(target) or empty_stats()
    return {
        "step": step.get("index"), "weight": step.get("weight"), "pause": step.get("pause"),
        "colors": colours, "verdict": verdict["verdict"], "reasons": verdict["reasons"],
        "target_requests": target_stats["requests"], "target_error_rate": target_stats["error_rate"],
        "target_p95_ms": target_stats["p95_ms"], "probe": probe_summary, "line": line,
        "thresholds": dict(thresholds),
    }


def progressive_failure(result, target, previous):
    """The abort message: the step, the figures and the threshold that failed."""
    reasons = "; ".join(result.get("reasons") or ()) or result.get("verdict", "")
    return (f"progressive switch to {target} aborted at step {result.get('step')} (weight {result.get('weight')} %): "
            f"{result.get('verdict')}: {reasons}. Figures: {result.get('line')}. Thresholds: max_error_rate "
            f"{_pct(float(result['thresholds']['max_error_rate']))}, max_latency_p95_ms "
            f"{result['thresholds'].get('max_latency_p95_ms') or 'off'}, min_requests "
            f"{result['thresholds']['min_requests']}. All traffic is back on {previous}.")


class FilterModule:
    def filters(self):
        return {
            "progressive_steps": progressive_steps,
            "progressive_weights": progressive_weights,
            "progressive_analysis": progressive_analysis,
            "progressive_failure": progressive_failure,
        }
