# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""switchyard.bluegreen.bluegreen_watch: an Event-Driven Ansible source that watches the live colour.

It reads one application's traffic through its router and puts one ``window`` event on the
queue every ``interval`` seconds, with per-colour request counts, error rates and latency
percentiles over the last ``window`` seconds, and the verdict of the watch that follows a
switch. It puts a ``switch`` event when the managed file's metadata says traffic moved, and a
``notice`` event when the previous colour stops answering during the watch period or traffic
still reaches the colour that is not live.

Traffic comes from:
- nginx: an access log written with the ``switchyard_bluegreen`` log_format (docs/eda.md);
- HAProxy: ``show stat`` per-server counters over the admin socket (no per-request latencies:
  the event carries HAProxy's own moving average response time, and p95 is null).

Everything but ``main`` is plain Python (no event loop, no ansible-rulebook) so unit tests
cover the statistics and the verdicts. No dependency on the ansible.eda collection.

Example (rulebook):

    sources:
      - switchyard.bluegreen.bluegreen_watch:
          router: nginx
          managed_file: /etc/nginx/conf.d/bluegreen_shop.conf
          access_log: /var/log/nginx/bluegreen.log
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import socket
import sys
import time


def _collections_root(path):
    """The directory holding ``ansible_collections`` for a file at <root>/ansible_collections/ns/name/extensions/...

    ansible-rulebook runs this file with runpy.run_path, so the collection's own packages are
    importable only when that directory is on sys.path. The path is not resolved: the
    collection may be a symlink into a checkout.
    """
    parts = os.path.abspath(path).split(os.sep)
    if len(parts) > 8 and parts[-8] == "ansible_collections":
        return os.sep.join(parts[:-8]) or os.sep
    return None


_ROOT = _collections_root(__file__)
if _ROOT and _ROOT not in sys.path:
    sys.path.append(_ROOT)

# Reused from the collection (not copied): the managed-file format both switching modules write, and
# the per-colour traffic statistics the traffic_stats module computes too (module_utils/_traffic).
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (  # noqa: E402
    ManagedFormat,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.access_log import (  # noqa: E402
    UNKNOWN,
    LogTail,
    parse_access_line,
    server_colours,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.stats import (  # noqa: E402
    CounterWindow,
    RequestWindow,
    empty_stats,
    haproxy_counters,
)

# The managed files' owners: their metadata line is "# <owner>: {json}".
MANAGED_OWNERS = {
    "nginx": "switchyard.bluegreen.nginx_upstream",
    "haproxy": "switchyard.bluegreen.haproxy_backend",
}

DEFAULTS = {
    "interval": 10.0,
    "window": 10.0,
    "watch_period": 600.0,
    "max_error_rate": 0.05,
    "max_p95_ms": 1000.0,
    "min_requests": 20,
    "bad_windows": 3,
    "split_share": 0.05,
    "probe_previous": True,
    "probe_timeout": 1.0,
    "retired_after": 2,
}


class WatchArgumentError(ValueError):
    """A source argument is wrong; the message names it and the fix."""


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
def _number(args, key, kind, low):
    value = args.get(key, DEFAULTS.get(key))
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise WatchArgumentError(f"{key} must be a number, got {value!r}") from None
    if value < low:
        raise WatchArgumentError(f"{key} must be at least {low}, got {value}")
    return value


def _flag(args, key):
    value = args.get(key, DEFAULTS[key])
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse_args(args):
    """Checked, typed source arguments (WatchArgumentError names the bad one)."""
    args = dict(args or {})
    router = args.get("router")
    if router not in MANAGED_OWNERS:
        raise WatchArgumentError(f"router must be nginx or haproxy, got {router!r}")
    if not args.get("managed_file"):
        raise WatchArgumentError("managed_file is required: the file nginx_upstream or haproxy_backend manages")
    if router == "nginx" and not args.get("access_log"):
        raise WatchArgumentError("access_log is required with router nginx (log_format switchyard_bluegreen)")
    if router == "haproxy" and not args.get("admin_socket"):
        raise WatchArgumentError("admin_socket is required with router haproxy (stats socket ... level admin)")
    parsed = {
        "router": router,
        "managed_file": str(args["managed_file"]),
        "access_log": args.get("access_log"),
        "admin_socket": args.get("admin_socket"),
        "app": args.get("app"),
        "backend": args.get("backend"),
        "interval": _number(args, "interval", float, 0.1),
        "window": _number(args, "window", float, 0.1),
        "watch_period": _number(args, "watch_period", float, 0),
        "max_error_rate": _number(args, "max_error_rate", float, 0),
        "max_p95_ms": _number(args, "max_p95_ms", float, 0),
        "min_requests": _number(args, "min_requests", int, 1),
        "bad_windows": _number(args, "bad_windows", int, 1),
        "split_share": _number(args, "split_share", float, 0),
        "probe_previous": _flag(args, "probe_previous"),
        "probe_timeout": _number(args, "probe_timeout", float, 0.01),
        "retired_after": _number(args, "retired_after", int, 1),
    }
    if parsed["max_error_rate"] > 1:
        raise WatchArgumentError(f"max_error_rate is a fraction (0.05 for 5 %), got {parsed['max_error_rate']}")
    return parsed


# ---------------------------------------------------------------------------------------------
# Managed-file metadata
# ---------------------------------------------------------------------------------------------
def read_metadata(path, router):
    """The JSON metadata of the managed file (None when it is missing or not managed)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    return ManagedFormat(MANAGED_OWNERS[router], (), None, None).split(text)[0]


def parse_time(value):
    """Epoch seconds of a metadata timestamp ("2026-11-29T16:04:43Z"), None when absent or malformed."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# The watch after a switch: verdicts and notices
# ---------------------------------------------------------------------------------------------
def _pct(rate):
    return f"{rate * 100:.1f} %"


class Watch:
    """What the source knows about the current switch, and the verdict of each window.

    A switch is watched (``armed``) for ``watch_period`` seconds. A window whose live colour
    had at least ``min_requests`` requests and an error rate above ``max_error_rate`` or a
    p95 above ``max_p95_ms`` is bad; ``bad_windows`` bad windows in a row give the verdict
    ``rollback``, once per switch. A window with too little traffic or a good one resets the
    count (never fires on no traffic). A switch back to the colour the previous switch left,
    within that switch's watch period, is a rollback and is not watched itself: a rollback is
    never rolled back automatically, so the source cannot flap. Switching forward again after
    a rollback is a new switch (a person decided it) and is watched.
    """

    def __init__(self, options):
        self.options = options
        self.switch = None
        self.sequence = 0

    # --- switches ------------------------------------------------------------------------
    def observe(self, metadata, now):
        """Compare the managed file's metadata with the current switch: a ``switch`` event or None."""
        if metadata is None:
            return None
        live = metadata.get("active")
        switched_at = metadata.get("switched_at")
        switch_id = f"{switched_at}/{live}"
        if self.switch is not None and self.switch["id"] == switch_id:
            self.switch["pools"] = metadata.get("pools") or {}
            return None
        at = parse_time(switched_at)
        since = None if at is None else max(0.0, now - at)
        old = self.switch
        if old is None:
            kind = "initial"
        elif (old["kind"] != "rollback" and live is not None and live == old["previous"] and at is not None
              and old["at"] is not None and at - old["at"] <= self.options["watch_period"]):
            # Undoes the previous switch within its watch period. Switching forward again after a
            # rollback is a new release attempt (someone decided it), so it is watched again.
            kind = "rollback"
        else:
            kind = "switch"
        # Weighted traffic (a canary) has no single live colour to judge.
        watchable = live is not None and metadata.get("weights") is None and since is not None
        armed = watchable and kind != "rollback" and since <= self.options["watch_period"]
        if kind == "rollback":
            reason = f"a switch back to {live} within the watch period of the switch to {old['live']}: not watched"
        elif not watchable:
            reason = "no single live colour (weighted traffic) or no switch time: not watched"
        elif not armed:
            reason = f"switched {since:.0f} s ago, beyond the watch period of {self.options['watch_period']:.0f} s"
        else:
            reason = f"watching {live} for {self.options['watch_period'] - since:.0f} s more"
        self.switch = {
            "id": switch_id, "live": live, "previous": metadata.get("previous_active"), "at": at,
            "switched_at": switched_at, "kind": kind, "armed": armed, "streak": 0, "verdict_sent": False,
            "notices": set(), "unreachable": 0, "pools": metadata.get("pools") or {}, "reason": reason,
        }
        return self._event("switch", now, {"kind": kind, "reason": reason,
                                           "weights": metadata.get("weights"), "app": metadata.get("name")})

    def _base(self, now):
        switch = self.switch or {}
        at = switch.get("at")
        return {
            "live": switch.get("live"), "previous": switch.get("previous"), "switch_id": switch.get("id"),
            "switched_at": switch.get("switched_at"), "switch_kind": switch.get("kind"),
            "since_switch_s": None if at is None else round(max(0.0, now - at), 1),
            "watching": self.watching(now),
        }

    def _event(self, kind, now, fields):
        self.sequence += 1
        event = {"type": kind, "time": iso(now), "sequence": self.sequence, **self._base(now), **fields}
        return event

    def watching(self, now):
        switch = self.switch
        return bool(switch and switch["armed"] and switch["at"] is not None
                    and now - switch["at"] <= self.options["watch_period"])

    # --- windows -------------------------------------------------------------------------
    def judge(self, stats, now):
        """The ``window`` event for one window's per-colour stats, with its verdict and the reason."""
        opts = self.options
        switch = self.switch
        live = switch["live"] if switch else None
        live_stats = stats.get(live) if live else None
        live_stats = live_stats or empty_stats()
        breaches = []
        verdict = "none"
        if switch is None:
            reason = "no managed-file metadata yet"
        elif not self.watching(now):
            switch["streak"] = 0
            reason = "not watching: " + (switch["reason"] if not switch["armed"] else "the watch period is over")
        elif switch["verdict_sent"]:
            verdict = "rollback_requested"
            reason = "rollback already requested for this switch; nothing more until the next switch"
        elif live_stats["requests"] < opts["min_requests"]:
            switch["streak"] = 0
            reason = f"not enough traffic on {live}: {live_stats['requests']} < {opts['min_requests']} requests"
        else:
            if live_stats["error_rate"] > opts["max_error_rate"]:
                breaches.append(f"error rate {_pct(live_stats['error_rate'])} > {_pct(opts['max_error_rate'])}")
            p95 = live_stats["p95_ms"]
            if opts["max_p95_ms"] and p95 is not None and p95 > opts["max_p95_ms"]:
                breaches.append(f"p95 {p95:.0f} ms > {opts['max_p95_ms']:.0f} ms")
            switch["streak"] = switch["streak"] + 1 if breaches else 0
            if breaches and switch["streak"] >= opts["bad_windows"]:
                verdict = "rollback"
                switch["verdict_sent"] = True
                reason = (f"ROLL BACK to {switch['previous']}: {', '.join(breaches)} for {switch['streak']} windows "
                          f"in a row")
            elif breaches:
                reason = f"bad window {switch['streak']}/{opts['bad_windows']}: {', '.join(breaches)}"
            else:
                reason = "healthy"
        figures = (f"{live_stats['requests']} requests, {_pct(live_stats['error_rate'])} errors "
                   f"(5xx {live_stats['errors_5xx']}, no answer {live_stats['no_answer']}), p95 "
                   f"{'n/a' if live_stats['p95_ms'] is None else format(live_stats['p95_ms'], '.0f') + ' ms'}")
        fields = {
            "window_s": opts["window"], "colors": stats, "live_stats": live_stats,
            "bad_windows": switch["streak"] if switch else 0, "bad_windows_needed": opts["bad_windows"],
            "breaches": breaches, "verdict": verdict, "reason": reason,
            "thresholds": {"max_error_rate": opts["max_error_rate"], "max_p95_ms": opts["max_p95_ms"],
                           "min_requests": opts["min_requests"]},
        }
        event = self._event("window", now, fields)
        event["decision"] = (f"{live or '?'} live (switch {event['switch_id']}, {event['since_switch_s']} s ago): "
                             f"last {opts['window']:g} s: {figures}: {reason}")
        return event

    # --- notices -------------------------------------------------------------------------
    def split_notice(self, stats, now):
        """A ``notice`` when the colour that is not live still serves traffic well after the switch."""
        switch = self.switch
        if not self.watching(now) or "fleet_split" in switch["notices"]:
            return None
        if now - self.options["window"] < switch["at"] + self.options["interval"]:
            return None  # the window still holds requests from before the switch
        total = sum(s["requests"] for s in stats.values())
        other = sum(s["requests"] for colour, s in stats.items() if colour not in (switch["live"], UNKNOWN))
        if total < self.options["min_requests"] or not other or other / total <= self.options["split_share"]:
            return None
        switch["notices"].add("fleet_split")
        share = other / total
        return self._event("notice", now, {
            "notice": "fleet_split", "share_not_live": round(share, 4),
            "reason": (f"{_pct(share)} of {total} requests in the last {self.options['window']:g} s were served by "
                       f"a colour other than {switch['live']}, {now - switch['at']:.0f} s after the switch: a router "
                       "did not switch (or did not load its configuration)"),
        })

    def retired_notice(self, previous_alive, now):
        """A ``notice`` when the previous colour stopped answering during the watch period (nothing to roll back to)."""
        switch = self.switch
        if previous_alive is None or not self.watching(now) or "previous_retired" in switch["notices"]:
            return None
        switch["unreachable"] = 0 if previous_alive else switch["unreachable"] + 1
        if switch["unreachable"] < self.options["retired_after"]:
            return None
        switch["notices"].add("previous_retired")
        return self._event("notice", now, {
            "notice": "previous_retired",
            "reason": (f"{switch['previous']} stopped answering {now - switch['at']:.0f} s after the switch, within "
                       f"the watch period of {self.options['watch_period']:.0f} s: an automatic rollback would have "
                       "nothing to go back to"),
        })


def previous_servers(switch):
    """Addresses (host:port) of the previous colour's servers, from the metadata's pools."""
    if not switch or not switch.get("previous"):
        return []
    return [a for a, colour in server_colours(switch.get("pools")).items() if colour == switch["previous"]]


def tcp_alive(address, timeout):
    """True when something accepts a TCP connection at host:port."""
    host, _sep, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# The source
# ---------------------------------------------------------------------------------------------
class Sampler:
    """Reads the router once per interval and returns (per-colour stats, metadata)."""

    def __init__(self, options):
        self.options = options
        self.window = (RequestWindow if options["router"] == "nginx" else CounterWindow)(options["window"])
        self.tail = LogTail(options["access_log"]) if options["router"] == "nginx" else None
        self.api = None
        self.last_error = None

    def read(self, metadata, now):
        if self.tail is not None:
            colours = server_colours((metadata or {}).get("pools"))
            app = self.options["app"] or (metadata or {}).get("name")
            for line in self.tail.read_lines():
                sample = parse_access_line(line, colours, app)
                if sample is not None:
                    self.window.add(sample)
            return self.window.stats(now)
        return self._read_haproxy(metadata, now)

    def _read_haproxy(self, metadata, now):
        # Imported here: only the HAProxy router needs the runtime API client.
        from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import (  # noqa: PLC0415
            RuntimeApi,
            RuntimeApiError,
            parse_stat,
        )

        if self.api is None:
            self.api = RuntimeApi(self.options["admin_socket"], timeout=max(1.0, self.options["interval"]))
        backend = self.options["backend"] or (metadata or {}).get("name")
        try:
            rows = parse_stat(self.api.execute("show stat"))
            self.last_error = None
        except RuntimeApiError as exc:
            self.last_error = str(exc)
            return self.window.stats(now)
        self.window.add(now, haproxy_counters(rows, backend))
        return self.window.stats(now)


def step(watch, sampler, options, now, probe=tcp_alive):
    """One interval: the events to put (switch, window, notices), in order."""
    metadata = read_metadata(options["managed_file"], options["router"])
    events = []
    switch_event = watch.observe(metadata, now)
    if switch_event:
        events.append(switch_event)
    stats = sampler.read(metadata, now)
    window_event = watch.judge(stats, now)
    if sampler.last_error:
        window_event["reason"] += f" (router unreadable: {sampler.last_error})"
        window_event["decision"] += f" (router unreadable: {sampler.last_error})"
    events.append(window_event)
    split = watch.split_notice(stats, now)
    if split:
        events.append(split)
    if options["probe_previous"] and watch.watching(now):
        servers = previous_servers(watch.switch)
        alive = any(probe(address, options["probe_timeout"]) for address in servers) if servers else None
        retired = watch.retired_notice(alive, now)
        if retired:
            events.append(retired)
    return events


async def main(queue, args):
    """ansible-rulebook's entry point: put events on ``queue`` until cancelled."""
    options = parse_args(args)
    watch = Watch(options)
    sampler = Sampler(options)
    loop = asyncio.get_running_loop()
    while True:
        started = time.monotonic()
        # File and socket reads are short but blocking: keep them off the event loop.
        events = await loop.run_in_executor(None, step, watch, sampler, options, time.time())
        for event in events:
            await queue.put({"bluegreen": event})
        await asyncio.sleep(max(0.0, options["interval"] - (time.monotonic() - started)))


if __name__ == "__main__":
    # Run by hand: print the events (python bluegreen_watch.py '{"router": "nginx", ...}').

    class _PrintQueue:
        async def put(self, event):
            print(json.dumps(event), flush=True)

    asyncio.run(main(_PrintQueue(), json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")))
