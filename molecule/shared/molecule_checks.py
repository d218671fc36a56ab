# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the failure scenarios' testinfra checks (molecule/<scenario>/tests/).

The checks look at the containers directly (podman exec through testinfra) and at
what the scenario recorded in $MOLECULE_EPHEMERAL_DIRECTORY while it converged:
attempt_<name>.json (shared/run_playbook.py) and snapshot_<name>.json (shared/snapshot.yml).
The scenarios import it with ``sys.path.insert(0, <molecule/shared>)``; those that call its assert_*
helpers register it first with ``pytest.register_assert_rewrite("molecule_checks")`` so a failed
check shows the values compared.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

UPSTREAM_FILE = "/etc/nginx/conf.d/bluegreen_demo.conf"
META_RE = re.compile(r"^# switchyard\.bluegreen\.nginx_upstream: (\{.*\})$", re.MULTILINE)
# Asks a HAProxy admin socket from inside a container (socat is not installed there); prints the answer.
ASK_SOCKET = (
    "python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]);"
    " s.sendall(sys.argv[2].encode() + b\"\\n\"); d=b\"\"\n"
    "while True:\n"
    "    c=s.recv(65536)\n"
    "    if not c: break\n"
    "    d+=c\n"
    "sys.stdout.write(d.decode())' {socket} '{command}'"
)


def ephemeral() -> Path:
    path = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert path, "run through molecule verify: MOLECULE_EPHEMERAL_DIRECTORY is not set"
    return Path(path)


def recorded(name: str) -> dict:
    """A JSON record the scenario wrote while it converged."""
    path = ephemeral() / f"{name}.json"
    assert path.exists(), f"{path} is missing: did converge run?"
    return json.loads(path.read_text(encoding="utf-8"))


def phase(default: str) -> str:
    """The scenario's phase marker (side_effect playbooks write it), else default."""
    marker = ephemeral() / "phase"
    return marker.read_text(encoding="utf-8").strip() if marker.exists() else default


def expected_live(default: str = "green") -> str:
    """The live colour the side effect left in $MOLECULE_EPHEMERAL_DIRECTORY/expected_live, else default.

    Unlike ephemeral(), a missing variable is not an error: outside molecule the default holds."""
    marker = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "expected_live"
    return marker.read_text(encoding="utf-8").strip() if marker.exists() else default


def idle_of(colour: str) -> str:
    return "blue" if colour == "green" else "green"


def fatal_text(attempt: dict) -> str:
    """The failure messages that ended a recorded playbook run, as one string."""
    return "\n".join(f"{f['host']} | {f['task']} | {f['msg']}" for f in attempt["fatal"])


def fetch(host, port: int, count: int = 10, path: str = "/") -> list[dict]:
    """GET http://127.0.0.1:<port><path> count times from inside host; status and headers per answer."""
    answers = []
    for _n in range(count):
        out = host.check_output(f"curl -s -D - -o /dev/null --max-time 5 http://127.0.0.1:{port}{path}")
        lines = out.replace("\r", "").splitlines()
        status = int(lines[0].split()[1]) if lines else 0
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        answers.append({"status": status, **headers})
    return answers


def assert_served_by(answers: list[dict], colour: str, version: str, *, router_header: bool = True) -> None:
    """Every answer (from fetch) is a 200 from colour at version; with router_header, the load balancer's own
    X-Bluegreen-Color (from the server it picked) agrees with the application's X-App-Color."""
    assert {a["status"] for a in answers} == {200}
    assert {a["x-app-color"] for a in answers} == {colour}
    assert {a["x-app-version"] for a in answers} == {version}
    if router_header:
        assert {a["x-bluegreen-color"] for a in answers} == {colour}


def managed_metadata(content: str, module: str = "nginx_upstream") -> dict | None:
    """The JSON metadata line a switchyard module writes into its managed file, or None."""
    pattern = META_RE if module == "nginx_upstream" else re.compile(
        rf"^# switchyard\.bluegreen\.{re.escape(module)}: (\{{.*\}})$", re.MULTILINE)
    match = pattern.search(content)
    return json.loads(match.group(1)) if match else None


def ask_admin_socket(host, socket: str, command: str) -> str:
    """One HAProxy runtime API command over the admin socket inside host; its answer."""
    return host.check_output(ASK_SOCKET.format(socket=socket, command=command))


def colour_record(host, colour: str, app: str = "demo") -> dict:
    """The record the environment role keeps for colour on host (/var/lib/<app>/bluegreen/<colour>.json)."""
    return json.loads(host.file(f"/var/lib/{app}/bluegreen/{colour}.json").content_string)


def assert_colour_service_up(host, colour: str, app: str = "demo") -> None:
    """The colour's systemd unit <app>@<colour> runs and starts at boot."""
    service = host.service(f"{app}@{colour}")
    assert service.is_running
    assert service.is_enabled


def upstream_state(host, path: str = UPSTREAM_FILE) -> tuple[str, dict]:
    """(sha256, metadata) of the managed upstream file on host."""
    sha = host.check_output(f"sha256sum {path}").split()[0]
    meta = META_RE.search(host.file(path).content_string)
    assert meta is not None, f"{path} on {host} has no nginx_upstream metadata line"
    return sha, json.loads(meta.group(1))
