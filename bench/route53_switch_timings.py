# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""API calls and time of one route53_switch switch against a local moto_server.

Starts `moto_server` on 127.0.0.1 (a free port), creates a zone, then alternates the record
between blue and green `--runs` times, each a real switch, and also re-runs an unchanged switch:

* module: the module run the way Ansible runs it (new interpreter, arguments on stdin),
* in-process: `_route53.switch()` on one boto3 client (the AWS part without interpreter start).

Prints medians and the API calls per switch as JSON. Usage:

    build/venv/bin/python bench/route53_switch_timings.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.lib.modules import COLLECTIONS, module_command, module_input  # noqa: E402
from tests.lib.ports import LOOPBACK, free_port, wait_for_port  # noqa: E402

KEY, SECRET = "bench-key-id", "bench-secret-value"


def run_module(args: dict) -> tuple[float, dict]:
    """(seconds, result) of one route53_switch process, the way Ansible runs it; exits on a failed switch."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    started = time.perf_counter()
    proc = subprocess.run(module_command("route53_switch"), input=module_input(args), capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit(f"module failed: {result.get('msg')}")
    return elapsed, result


def expect(result: dict, changed: bool) -> None:
    if result.get("changed") is not changed:
        raise SystemExit(f"expected changed={changed}, got {result.get('changed')}: {result}")


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)] * 1000, 1),
            "min_ms": round(ordered[0] * 1000, 1), "runs": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="switches per variant (1-200)")
    opts = parser.parse_args()
    runs = max(1, min(200, opts.runs))

    sys.path.insert(0, str(COLLECTIONS))
    import boto3  # noqa: PLC0415

    from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws import connection as _aws  # noqa: PLC0415
    from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53 import switch as _route53  # noqa: PLC0415

    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", LOOPBACK, "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=30)
        client = boto3.client("route53", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id=KEY, aws_secret_access_key=SECRET)
        client.create_hosted_zone(Name="example.com", CallerReference="bench")
        base = {"zone": "example.com", "record": "api.example.com", "type": "A", "routing": "weighted",
                "targets": {"blue": {"alias": {"dns_name": "blue-lb-1.us-east-1.elb.amazonaws.com",
                                               "hosted_zone_id": "Z35SXDOTRQ7X7K", "evaluate_target_health": True}},
                            "green": {"values": ["203.0.113.20", "203.0.113.21"]}},
                "wait": True, "wait_timeout": 300, "endpoint_url": url, "access_key": KEY, "secret_key": SECRET}

        module_switch, module_noop, calls, noop_calls = [], [], None, None
        colour = "blue"
        for _run in range(runs):
            colour = "green" if colour == "blue" else "blue"
            elapsed, result = run_module({**base, "active": colour})
            expect(result, changed=True)
            module_switch.append(elapsed)
            calls = result["api_calls"]
            elapsed, result = run_module({**base, "active": colour})
            expect(result, changed=False)
            module_noop.append(elapsed)
            noop_calls = result["api_calls"]

        inproc_client = _aws.client_from_params("route53", {"endpoint_url": url, "access_key": KEY,
                                                            "secret_key": SECRET})
        counter = _aws.ApiCallCounter().attach(inproc_client)
        inproc = []
        for _run in range(runs):
            colour = "green" if colour == "blue" else "blue"
            started = time.perf_counter()
            result = _route53.switch(inproc_client, {**base, "active": colour})
            inproc.append(time.perf_counter() - started)
            expect(result, changed=True)
        report = {
            "emulator": f"moto {__import__('moto').__version__} (moto_server, loopback HTTP)",
            "switch_module": summary(module_switch),
            "unchanged_rerun_module": summary(module_noop),
            "switch_in_process": summary(inproc),
            "api_calls_per_switch": calls,
            "api_calls_per_unchanged_rerun": noop_calls,
            "api_calls_in_process_total": counter.summary(),
        }
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
