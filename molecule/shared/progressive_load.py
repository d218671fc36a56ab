# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded load client for the progressive scenario: real users during a progressive switch.

    python3 progressive_load.py --url http://127.0.0.1:80/ --out /tmp/load.jsonl --stop-file /tmp/load.stop

Runs ON the load balancer container against its own listener (traffic never leaves the
containers), standard library only. Sends GETs one after the other at most --rate per second
until the stop file appears, --max-seconds pass or --max-requests are sent, whichever comes
first, and writes one JSON line per request: {"t": epoch seconds, "status": HTTP status
(0 = no answer), "color": the X-App-Color the answer carried (else the router's
X-Bluegreen-Color, else "")}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request


def one_request(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http://127.0.0.1 only
            answer.read()
            status, headers = answer.status, answer.headers
    except urllib.error.HTTPError as error:  # 4xx/5xx still name the colour that answered
        status, headers = error.code, error.headers
    except (OSError, ValueError):
        return 0, ""
    return status, headers.get("X-App-Color") or headers.get("X-Bluegreen-Color") or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--max-requests", type=int, default=60000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second at most")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        parser.error("--url must be on the loopback interface: the load stays inside the container")

    start = time.monotonic()
    interval = 1.0 / args.rate
    sent = 0
    with open(args.out, "w", encoding="utf-8") as out:
        while sent < args.max_requests and time.monotonic() - start < args.max_seconds:
            if os.path.exists(args.stop_file):
                break
            began = time.monotonic()
            status, colour = one_request(args.url, args.timeout)
            out.write(json.dumps({"t": round(time.time(), 4), "status": status, "color": colour}) + "\n")
            sent += 1
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
    print(json.dumps({"requests": sent, "seconds": round(time.monotonic() - start, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
