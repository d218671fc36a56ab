# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sample which colour answers through the load balancer while a switch happens.

    python3 demo/measure_overlap.py --url http://10.88.251.10/ --stop-file F --out R.json

Sends requests from a few threads (a new connection per request, like new clients)
until the stop file appears or --max-seconds pass (bounded), tallies the X-App-Color
header, and writes a JSON summary: requests, errors, answers per colour, and the
overlap window, i.e. the time between the first answer from the colour that ended up
live and the last answer from the other colour (0 when they never interleaved).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def sample(url: str, stop: threading.Event, events: list, lock: threading.Lock, *, max_requests: int,
           interval_s: float) -> None:
    while not stop.wait(interval_s):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (the demo's own LB)
                response.read()
                color = response.headers.get("X-App-Color", "(missing)")
                status = response.status
        except urllib.error.HTTPError as exc:
            color, status = exc.headers.get("X-App-Color", "(error)"), exc.code
        except OSError as exc:
            color, status = f"(error: {type(exc).__name__})", 0
        with lock:
            events.append((started, color, status))
            if len(events) >= max_requests:
                stop.set()


def summarise(events: list) -> dict:
    events.sort()
    ok = [(t, c) for t, c, s in events if s == 200]
    errors = len(events) - len(ok)
    counts: dict = {}
    for _stamp, color in ok:
        counts[color] = counts.get(color, 0) + 1
    result = {"requests": len(events), "errors": errors, "answers": counts, "overlap_ms": 0.0,
              "final_color": ok[-1][1] if ok else None, "initial_color": ok[0][1] if ok else None,
              "interleaved_answers": 0}
    if ok and result["final_color"] != result["initial_color"]:
        new = result["final_color"]
        first_new = next(t for t, c in ok if c == new)
        last_old = max((t for t, c in ok if c != new), default=first_new)
        result["overlap_ms"] = round(max(0.0, last_old - first_new) * 1000, 1)
        result["interleaved_answers"] = sum(1 for t, c in ok if first_new <= t <= last_old)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--stop-file", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--max-requests", type=int, default=500_000)
    parser.add_argument("--interval-ms", type=float, default=5, help="pause between one thread's requests")
    args = parser.parse_args()
    stop = threading.Event()
    events: list = []
    lock = threading.Lock()
    limits = {"max_requests": args.max_requests, "interval_s": args.interval_ms / 1000}
    workers = [threading.Thread(target=sample, args=(args.url, stop, events, lock), kwargs=limits, daemon=True)
               for _n in range(args.threads)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + args.max_seconds
    while not stop.is_set() and time.monotonic() < deadline and not args.stop_file.exists():
        time.sleep(0.05)
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    with lock:
        args.out.write_text(json.dumps(summarise(list(events))) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
