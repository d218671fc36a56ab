# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""API calls per alb_switch switch and idempotence of a re-run, against a local moto_server.

Starts `moto_server` on 127.0.0.1 (a free port), creates a VPC, an Application Load Balancer with an
HTTP listener and two target groups with one healthy instance each, then alternates the listener
between blue and green `--runs` times. After every switch the same switch is run again; it must
report changed=false and make no ModifyListener call. Calls are counted with botocore event hooks
(`_aws.ApiCallCounter`: operations on `before-parameter-build`, HTTP requests on `before-send`):

* module: alb_switch run the way Ansible runs it (new interpreter, arguments on stdin); the counts
  are the module's own `api_calls` result,
* in-process: `_elbv2.switch()` on one boto3 client with a counter attached here, as a cross-check.

Prints JSON. Usage:

    build/venv/bin/python bench/alb_calls.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / "build" / "collections"
MODULE = "ansible_collections.switchyard.bluegreen.plugins.modules.alb_switch"
KEY, SECRET = "bench-key-id", "bench-secret-value"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_module(args: dict) -> tuple[float, dict]:
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args})
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", f"import runpy; runpy.run_module('{MODULE}', run_name='__main__', alter_sys=True)"],
        input=payload, capture_output=True, text=True, env=env, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit(f"module failed: {result.get('msg')}")
    return elapsed, result


def expect(result: dict, changed: bool) -> None:
    if result.get("changed") is not changed:
        raise SystemExit(f"expected changed={changed}, got {result.get('changed')}: {result}")


def arrange(url: str) -> None:
    """VPC, two subnets, ALB `bench`, target groups bench-blue/bench-green with a healthy instance, listener 80."""
    import boto3  # noqa: PLC0415

    kwargs = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": KEY,
              "aws_secret_access_key": SECRET}
    ec2, elb = boto3.client("ec2", **kwargs), boto3.client("elbv2", **kwargs)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    balancer = elb.create_load_balancer(Name="bench", Subnets=subnets)["LoadBalancers"][0]
    groups = {}
    for colour in ("blue", "green"):
        groups[colour] = elb.create_target_group(Name=f"bench-{colour}", Protocol="HTTP", Port=80,
                                                 VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        elb.register_targets(TargetGroupArn=groups[colour], Targets=[{"Id": instance, "Port": 80}])
    elb.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}])


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered) * 1000, 1), "min_ms": round(ordered[0] * 1000, 1),
            "runs": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="switches (each followed by a re-run), 1-100")
    opts = parser.parse_args()
    runs = max(1, min(100, opts.runs))

    sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.connection import (  # noqa: PLC0415
        ApiCallCounter,
        client_from_params,
    )
    from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.switch import switch  # noqa: PLC0415

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"{url}/moto-api/")
        arrange(url)
        base = {"load_balancer_name": "bench", "listener_port": 80,
                "pools": {"blue": "bench-blue", "green": "bench-green"},
                "endpoint_url": url, "access_key": KEY, "secret_key": SECRET, "region": "us-east-1"}
        # The first run attaches green with weight 0 (the listener forwarded to blue alone): not counted.
        _elapsed, first = run_module({**base, "active": "blue"})
        expect(first, changed=True)

        switch_calls, rerun_calls, switch_times, rerun_times = [], [], [], []
        rerun_modifies = rerun_unchanged = 0
        colour = "blue"
        for _run in range(runs):
            colour = "green" if colour == "blue" else "blue"
            elapsed, result = run_module({**base, "active": colour})
            expect(result, changed=True)
            switch_calls.append(result["api_calls"])
            switch_times.append(elapsed)
            elapsed, result = run_module({**base, "active": colour})
            expect(result, changed=False)
            rerun_calls.append(result["api_calls"])
            rerun_times.append(elapsed)
            rerun_modifies += result["api_calls"]["by_operation"].get("ModifyListener", 0)
            rerun_unchanged += result.get("changed") is False

        client = client_from_params("elbv2", base)
        counter = ApiCallCounter().attach(client)
        for _run in range(runs):
            colour = "green" if colour == "blue" else "blue"
            expect(switch(client, {**base, "active": colour}), changed=True)
        inproc_switch = counter.summary()
        rerun_client = client_from_params("elbv2", base)
        rerun_counter = ApiCallCounter().attach(rerun_client)
        for _run in range(runs):
            expect(switch(rerun_client, {**base, "active": colour}), changed=False)

        distinct = {json.dumps(c, sort_keys=True) for c in switch_calls}
        report = {
            "emulator": f"moto {__import__('moto').__version__} (moto_server, loopback HTTP)",
            "runs": runs,
            "api_calls_per_switch": switch_calls[-1],
            "api_calls_per_switch_all_equal": len(distinct) == 1,
            "api_calls_per_unchanged_rerun": rerun_calls[-1],
            "reruns_unchanged": rerun_unchanged,  # counted; expect() above also stops the run on a changed re-run
            "rerun_changed_false": rerun_unchanged == runs,
            "rerun_modify_calls": rerun_modifies,
            "in_process_switches": {"runs": runs, **inproc_switch},
            "in_process_reruns": {"runs": runs, **rerun_counter.summary()},
            "switch_module": summary(switch_times),
            "unchanged_rerun_module": summary(rerun_times),
        }
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
