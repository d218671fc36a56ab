# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Median switch timings of switchyard.bluegreen.haproxy_backend (runtime API, no reload) on this machine.

Starts a private master-worker HAProxy on loopback with real blue/green backends, then
runs the module N times (alternating blue/green, each run a real module process like
Ansible starts it) and prints the median/min/max of the timings the module reports and of
the module process' wall time. After every switch it checks through HAProxy that the new
colour answers, so a number only counts for a switch that really happened. It also times
the bare runtime API part (the two `set server` commands over the admin socket, in this
process) to separate HAProxy's cost from the module's. Optional keepalive clients send
requests during all switches and their errors are counted.

    build/venv/bin/python bench/haproxy_backend_timings.py --runs 30 --clients 4
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from analyse import add_switch_timings, print_step_table  # noqa: E402 - bench/, this script's folder

from tests.lib.backends import ColourBackend  # noqa: E402
from tests.lib.haproxy import HaproxyLab, LoopbackHaproxy  # noqa: E402
from tests.lib.ports import LOOPBACK  # noqa: E402

STEPS = ("validate_ms", "switch_ms", "drain_ms", "total_ms")


def keepalive_client(port, stop, tally, lock):
    """One keepalive connection, requests back to back until stop (bounded by 300 s)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    deadline = time.monotonic() + 300
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
        with lock:
            tally["ok" if ok else "errors"] += 1
    conn.close()


def raw_api_switches(haproxy, runs):
    """Milliseconds for `ready` on the target then `drain` on the old colour, straight over the socket.

    One connection per command, like the module's own runtime API client."""
    samples = []
    for index in range(runs):
        target, old = ("green", "blue") if index % 2 == 0 else ("blue", "green")
        started = time.monotonic()
        for command in (f"set server shop/{target}-1 state ready", f"set server shop/{old}-1 state drain"):
            answer = haproxy.api(command).strip()
            if answer:
                raise RuntimeError(f"{command!r}: {answer}")
        samples.append((time.monotonic() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="number of switches (bounded to 1-500)")
    parser.add_argument("--clients", type=int, default=0, help="keepalive clients during the switches (0-32)")
    options = parser.parse_args()
    runs = max(1, min(options.runs, 500))
    clients = max(0, min(options.clients, 32))

    backends = {colour: ColourBackend(colour).start() for colour in ("blue", "green")}
    with tempfile.TemporaryDirectory(prefix="haproxy-bench-") as folder:
        haproxy = LoopbackHaproxy(Path(folder))
        lab = HaproxyLab(haproxy, backends)
        first = lab.switch(active="blue", apply=False)
        if first.failed:
            print(first, file=sys.stderr)
            return 1
        haproxy.start()
        samples = {step: [] for step in (*STEPS, "process_wall_ms")}
        undrained = 0
        stop, lock, tally = threading.Event(), threading.Lock(), {"ok": 0, "errors": 0}
        threads = [threading.Thread(target=keepalive_client, args=(haproxy.port, stop, tally, lock))
                   for _n in range(clients)]
        for thread in threads:
            thread.start()
        try:
            for index in range(runs):
                colour = "green" if index % 2 == 0 else "blue"
                started = time.monotonic()
                result = lab.switch(active=colour, drain_timeout=10)
                wall = (time.monotonic() - started) * 1000
                if result.failed or not result["changed"] or result["reloaded"]:
                    print(f"run {index}: unexpected result {result}", file=sys.stderr)
                    return 1
                counts = haproxy.colour_counts(5)
                if counts != {colour: 5}:
                    print(f"run {index}: traffic {counts} after switching to {colour}", file=sys.stderr)
                    return 1
                undrained += not result["drained"]
                add_switch_timings(samples, result, STEPS, wall)
            stop.set()
            for thread in threads:
                thread.join(10)
            raw = raw_api_switches(haproxy, runs)
        finally:
            stop.set()
            haproxy.stop()
            for backend in backends.values():
                backend.stop()

    print(f"haproxy_backend: {runs} switches (runtime API, no reload), not drained in time: {undrained}")
    print_step_table(samples)
    print(f"{'raw_api_ms':<16}{statistics.median(raw):>8.2f}{min(raw):>8.2f}{max(raw):>8.2f}"
          "  (ready + drain over the socket, no module)")
    if clients:
        print(f"keepalive clients: {clients}, requests ok: {tally['ok']}, errors: {tally['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
