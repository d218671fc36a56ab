# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the switch role's per-host router records (switch_router_timings).

Documentation: router_summary.yml, reload_skew.yml, switch_end.yml and router_record.yml next to this file.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

# applied_at as the modules report it (UTC, microseconds).
APPLIED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _records(records, filter_name):
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Sequence):
        raise AnsibleFilterError(
            f"{filter_name} expects a list of router records (switch_router_timings of each host), "
            f"got {type(records).__name__}")
    for record in records:
        if not isinstance(record, Mapping):
            raise AnsibleFilterError(f"{filter_name}: every router record must be a dict, got {record!r}")
    return records


def router_summary(records):
    """One part per router host, "lb1: validate_ms 9, reload_ms 24; lb2: ..."; unset timings are left out."""
    parts = []
    for record in _records(records, "router_summary"):
        timings = record.get("timings") or {}
        if not isinstance(timings, Mapping):
            raise AnsibleFilterError(f"router_summary: timings of {record.get('host')} must be a dict, got {timings!r}")
        measured = ", ".join(f"{key} {value}" for key, value in timings.items() if value is not None)
        parts.append(f"{record.get('host', '')}: {measured}")
    return "; ".join(parts)


def reload_skew(records):
    """Seconds between the first and the last router host to serve the new state; None when no host reports a time."""
    times = []
    for record in _records(records, "reload_skew"):
        applied_at = record.get("applied_at")
        if not applied_at:
            continue
        try:
            times.append(datetime.datetime.strptime(str(applied_at), APPLIED_AT_FORMAT))
        except ValueError as exc:
            raise AnsibleFilterError(
                f"reload_skew: applied_at of {record.get('host')} is {applied_at!r}, "
                "expected UTC time like 2026-01-31T12:00:00.123456Z") from exc
    if not times:
        return None
    return round((max(times) - min(times)).total_seconds(), 3)


def router_record(result, host, applied_key="reloaded_at", extra=None):
    """The router record (switch_router_timings) of one host from its registered switch result, read once."""
    if not isinstance(result, Mapping):
        raise AnsibleFilterError(
            f"router_record: the result of {host} must be a registered task result, got {result!r}")
    if extra is not None and not isinstance(extra, Mapping):
        raise AnsibleFilterError(f"router_record: extra must be a dict of result keys and defaults, got {extra!r}")
    unreachable = bool(result.get("unreachable", False))
    failed = bool(result.get("failed", False)) or unreachable
    record = {
        "host": host,
        "changed": bool(result.get("changed", False)),
        "failed": failed,
        "drained": result.get("drained", False),
        "applied_at": result.get(applied_key),
        "committed_at": result.get("committed_at"),
        "commit_late_ms": result.get("commit_late_ms"),
        "timings": result.get("timings") or {},
        "error": (("unreachable: " if unreachable else "") + str(result.get("msg", ""))) if failed else "",
    }
    record.update({key: result.get(key, default) for key, default in (extra or {}).items()})
    return record


def switch_end(records, started, now):
    """What the switch role notes when the router part of a switch ends, from one read of the records."""
    try:
        duration = round(float(now) - float(started), 3)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"switch_end: started and now must be epoch seconds, got {started!r} and {now!r}") from exc
    records = list(_records(records, "switch_end"))
    return {
        "duration_s": duration,
        "reload_skew_s": reload_skew(records),
        "router_summary": router_summary(records),
        "router_timings": records,
    }


class FilterModule:
    """Router timings."""

    def filters(self):
        return {
            "router_summary": router_summary,
            "reload_skew": reload_skew,
            "switch_end": switch_end,
            "router_record": router_record,
        }
