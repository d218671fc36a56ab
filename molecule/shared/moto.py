# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local Route53 API for the route53 scenario: moto's server on 127.0.0.1.

    python3 molecule/shared/moto.py start --dir DIR --zone example.test
    python3 molecule/shared/moto.py stop --dir DIR

start: picks a free loopback port, starts build/venv/bin/moto_server there in its own
session (it outlives this process and the Ansible task), waits until it answers,
creates the hosted zone, turns on moto's request recorder (so the verifier can count
the change batches the roles send), puts the strict Route53 double (tests/lib/route53_double.py,
which applies batches the way AWS does; moto alone refuses a repeated guarded CREATE) in front
of it, and writes DIR/moto.json {pid, port, endpoint_url (the double), moto_url, double_pid,
zone_id}.
A server already running for DIR is reused. stop: ends that one process (by its pid,
after checking it is still moto_server) and removes DIR/moto.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _is_moto(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"moto_server") for part in cmdline)


def _is_double(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"route53_double.py") for part in cmdline)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(state: Path, zone: str) -> dict:
    if state.exists():
        info = json.loads(state.read_text(encoding="utf-8"))
        if _is_moto(info["pid"]):
            return info
    port = _free_port()
    log = (state.parent / "moto.log").open("ab")
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(  # noqa: S603 (our own venv's moto_server, fixed arguments)
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        # moto's recorder appends to ./moto_recording: keep it in this scenario's own directory.
        cwd=state.parent)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_path = state.parent / "moto.log"
                    raise SystemExit(f"moto_server did not start on {endpoint} (see {log_path})") from None
                time.sleep(0.2)
        client = boto3.client("route53", endpoint_url=endpoint, **CREDENTIALS)
        zone_id = client.create_hosted_zone(Name=zone, CallerReference=f"molecule-{time.time()}")["HostedZone"]["Id"]
        # Every request from here on is recorded (GET /moto-api/recorder/download-recording); the
        # recorder appends to its file, so start from an empty one.
        urllib.request.urlopen(f"{endpoint}/moto-api/recorder/reset-recording", data=b"", timeout=10).close()  # noqa: S310
        urllib.request.urlopen(f"{endpoint}/moto-api/recorder/start-recording", data=b"", timeout=10).close()  # noqa: S310
        double = subprocess.Popen(  # noqa: S603 (the repository's own double, fixed arguments)
            [sys.executable, str(REPO / "tests" / "lib" / "route53_double.py"), "--moto-url", endpoint],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        double_url = json.loads(double.stdout.readline() or b"{}").get("url")
        if not double_url:
            double.kill()
            raise SystemExit(f"the Route53 double did not start (see {state.parent / 'moto.log'})")
    except BaseException:
        # Nothing records this process yet, so cleanup could not stop it: stop it here.
        proc.kill()
        proc.wait(timeout=10)
        raise
    info = {"pid": proc.pid, "port": port, "endpoint_url": double_url, "moto_url": endpoint,
            "double_pid": double.pid, "zone_id": zone_id.rsplit("/", 1)[-1]}
    state.write_text(json.dumps(info) + "\n", encoding="utf-8")
    return info


def stop(state: Path) -> dict:
    if not state.exists():
        return {"stopped": None}
    info = json.loads(state.read_text(encoding="utf-8"))
    if info.get("double_pid") and _is_double(info["double_pid"]):
        os.kill(info["double_pid"], signal.SIGTERM)
    if _is_moto(info["pid"]):
        os.kill(info["pid"], signal.SIGTERM)
        for _n in range(50):
            if not _is_moto(info["pid"]):
                break
            time.sleep(0.1)
    state.unlink()
    return {"stopped": info["pid"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--zone", default="example.test")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    state = args.dir / "moto.json"
    print(json.dumps(start(state, args.zone) if args.action == "start" else stop(state)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
