# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet of nginx load balancers in podman containers, reached over SSH as AWX reaches them.

    from tests.lib.sshfleet import fleet
    with fleet(10) as lab:                      # lb1..lb10, nginx role applied, blue live
        lab.playbook("switch.yml", "-e", "bluegreen_target_color=green")
        assert {lab.served_color(h)[0] for h in lab.hosts} == {"green"}

Each container (image localhost/switchyard/debian12-lb-ssh, scripts/container-host.sh) runs
systemd, sshd and nginx. nginx also serves the two colours itself on 127.0.0.1:8081 (blue)
and 127.0.0.1:8082 (green), so the fleet needs no application containers; the public
server on port 80 and the preview on 8080 are the collection's nginx role's, proxying to the
managed upstream file. The smoke test and the switch's probes run on lb1
(``bluegreen_check_host``), where 127.0.0.1:808x are lb1's own colours.

Per run: a podman network and containers named ``sy-sshfleet-<pid>-<tag>[-lbN]`` (leftovers of a
run whose process is gone are removed by the next run), an ed25519 client key in the run's
temporary directory, copied into each container's /root/.ssh/authorized_keys, and an
inventory using ssh with pipelining and ControlPersist (ControlPath in the temporary directory).
Every wait is bounded; everything is removed on exit.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.lib import process
from tests.lib.modules import REPO, ansible_env

IMAGE = os.environ.get("SWITCHYARD_LB_SSH_IMAGE", "localhost/switchyard/debian12-lb-ssh:latest")
PREFIX = "sy-sshfleet"
APP = "lab"
UPSTREAM_FILE = f"/etc/nginx/conf.d/bluegreen_{APP}.conf"
COLORS_FILE = "/etc/nginx/conf.d/sy_lab_colors.conf"
PORTS = {"blue": 8081, "green": 8082}


class FleetError(RuntimeError):
    """The lab could not be set up (not a finding about the collection)."""


def podman(*args: str, check: bool = True, timeout: float = 60,
           stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, input=stdin, check=False)
    if check and proc.returncode != 0:
        raise FleetError(f"podman {' '.join(args)} failed (rc {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc


def usable() -> str | None:
    """Why the lab cannot run here, or None when it can (root, podman, the image, ssh)."""
    if os.geteuid() != 0:
        return "needs root (rootful podman networks and podman network disconnect)"
    for tool in ("podman", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if podman("image", "exists", IMAGE, check=False, timeout=30).returncode != 0:
        return f"image {IMAGE} is missing (make images builds it)"
    return None


def cleanup_leftovers() -> list[str]:
    """Remove containers and networks of earlier runs whose test process is gone."""
    removed = []
    names = podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    networks = podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    for name in names + networks:
        parts = name.split("-")
        if not name.startswith(PREFIX + "-") or len(parts) < 4 or not parts[2].isdigit():
            continue
        if process.alive(int(parts[2])):
            continue  # a parallel run's
        if name in names:
            podman("rm", "-f", "-t", "0", name, check=False)
        else:
            podman("network", "rm", "-f", name, check=False)
        removed.append(name)
    return removed


def _colors_conf(versions: dict[str, str]) -> str:
    blocks = []
    for color, port in PORTS.items():
        blocks.append(
            f"server {{\n    listen 127.0.0.1:{port};\n"
            f"    location / {{\n"
            f"        add_header X-App-Color {color} always;\n"
            f"        add_header X-App-Version {versions[color]} always;\n"
            f"        return 200 \"{color} {versions[color]}\\n\";\n    }}\n}}\n")
    header = "# The lab's two colours, served by the load balancer's own nginx (tests/lib/sshfleet.py).\n"
    return header + "".join(blocks)


PROVISION = """\
- name: Lab | the collection's nginx role on every load balancer
  hosts: bluegreen_lb
  gather_facts: false
  roles:
    - role: switchyard.bluegreen.nginx
"""


class Fleet:
    """A running fleet; see the module's docstring."""

    def __init__(self, n: int, tmp: Path, tag: str):
        self.n = n
        self.tmp = tmp
        self.run_name = f"{PREFIX}-{os.getpid()}-{tag}"
        self.network = self.run_name
        self.hosts = [f"lb{i}" for i in range(1, n + 1)]
        self.containers = {host: f"{self.run_name}-{host}" for host in self.hosts}
        self.ips: dict[str, str] = {}
        self.key = tmp / "id_ed25519"
        self.inventory = tmp / "inventory.yml"
        self.control_dir = tmp / "cp"
        self.timings: dict[str, float] = {}

    # ---------------------------------------------------------------- containers

    def exec(self, host: str, cmd: str, *, check: bool = True, timeout: float = 30,
             stdin: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command inside host's container (podman exec, not ssh)."""
        return podman("exec", "-i" if stdin is not None else "-t=false", self.containers[host], "sh", "-c", cmd,
                      check=check, timeout=timeout, stdin=stdin)

    def disconnect(self, host: str) -> None:
        """Cut host off the network (its SSH and HTTP stop answering; nginx keeps running)."""
        podman("network", "disconnect", "-f", self.network, self.containers[host])

    def reconnect(self, host: str) -> None:
        """Put host back on the network with its former address."""
        podman("network", "connect", "--ip", self.ips[host], self.network, self.containers[host])
        self.wait_for_ssh([host], timeout=30)

    def kill_nginx(self, host: str) -> None:
        """SIGKILL nginx's master and workers (Debian's unit does not restart it)."""
        self.exec(host, "pkill -KILL -x nginx; for i in $(seq 50); do pgrep -x nginx >/dev/null || exit 0;"
                        " sleep 0.1; done; echo nginx still runs >&2; exit 1")

    def nginx_test(self, host: str) -> subprocess.CompletedProcess:
        """nginx -t inside the container (the configuration on disk is valid)."""
        return self.exec(host, "nginx -t 2>&1", check=False)

    def worker_pids(self, host: str) -> list[int]:
        """The current workers (not those shutting down after a reload)."""
        out = self.exec(host, "pgrep -f '^nginx: worker process$' || true").stdout
        return sorted(int(pid) for pid in out.split())

    def worker_start_times(self, host: str) -> list[float]:
        """Wall-clock epoch seconds at which each current nginx worker started.

        /proc/<pid>/stat field 22 (starttime, clock ticks since boot) plus /proc/stat btime; the
        containers share the host's kernel, so these are comparable across load balancers
        (10 ms resolution, as in molecule/fleet's skew check).
        """
        script = ("ticks=$(getconf CLK_TCK); btime=$(awk '/^btime/ {print $2}' /proc/stat); echo $ticks $btime;"
                  " for pid in $(pgrep -f '^nginx: worker process$'); do cat /proc/$pid/stat 2>/dev/null; echo; done")
        lines = [line for line in self.exec(host, script).stdout.splitlines() if line.strip()]
        ticks, btime = (int(x) for x in lines[0].split())
        return sorted(btime + int(line.rsplit(")", 1)[1].split()[19]) / ticks for line in lines[1:])

    def draining(self, host: str) -> list[int]:
        """Old workers still finishing their requests after a reload."""
        out = self.exec(host, "pgrep -f '^nginx: worker process is shutting down' || true").stdout
        return sorted(int(pid) for pid in out.split())

    def upstream_meta(self, host: str) -> dict:
        """The managed upstream file's metadata line (the collection's JSON header), or {}."""
        text = self.exec(host, f"cat {UPSTREAM_FILE} 2>/dev/null || true").stdout
        for line in text.splitlines():
            if line.startswith("# switchyard.bluegreen.nginx_upstream: "):
                try:
                    return json.loads(line.split(": ", 1)[1])
                except ValueError:
                    return {}
        return {}

    def served_color(self, host: str, path: str = "/", timeout: float = 3) -> tuple[str, str] | None:
        """(colour, version) that host's public listener answers with, from this machine; None if no answer."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://{self.ips[host]}:80{path}", timeout=timeout) as response:
                return response.headers.get("X-App-Color"), response.headers.get("X-App-Version")
        except (urllib.error.URLError, OSError):
            return None

    def served_colors(self) -> dict[str, str | None]:
        return {host: (answer or (None,))[0] for host, answer in ((h, self.served_color(h)) for h in self.hosts)}

    # ---------------------------------------------------------------- ansible

    def env(self, extra: dict | None = None) -> dict:
        env = ansible_env({
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_FORKS": str(max(self.n, 5)),
            "ANSIBLE_SSH_RETRIES": "0",
            "ANSIBLE_TIMEOUT": "10",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "PYTHONUNBUFFERED": "1",  # a log read while the playbook runs (or after a kill) is up to date
        })
        if extra:
            env.update(extra)
        return env

    def command(self, playbook: str, *args: str) -> list[str]:
        path = Path(playbook)
        if not path.is_absolute() and not path.exists():
            path = REPO / "playbooks" / playbook
        return ["ansible-playbook", "-i", str(self.inventory), str(path), *args]

    def playbook(self, playbook: str, *args: str, timeout: float = 300,
                 env: dict | None = None) -> subprocess.CompletedProcess:
        """Run a playbook (name under playbooks/ or a path) against the fleet; never raises on rc != 0."""
        proc = subprocess.Popen(self.command(playbook, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=self.env(env), cwd=self.tmp, start_new_session=True)
        try:
            out = proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0]
            out += f"\n[sshfleet] killed after {timeout} s"
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")

    def start_playbook(self, playbook: str, *args: str, env: dict | None = None,
                       log: Path | None = None) -> subprocess.Popen:
        """Start a playbook in its own process group (for os.killpg); output to log (default tmp/<name>.log)."""
        log = log or self.tmp / f"{Path(playbook).stem}-{time.monotonic_ns()}.log"
        handle = log.open("w")
        proc = subprocess.Popen(self.command(playbook, *args), stdout=handle, stderr=subprocess.STDOUT,
                                env=self.env(env), cwd=self.tmp, start_new_session=True)
        handle.close()
        proc.log = log  # type: ignore[attr-defined]
        return proc

    # ---------------------------------------------------------------- setup

    def _write_inventory(self, extra_vars: dict) -> None:
        common = (f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
                  f" -o ControlMaster=auto -o ControlPersist=60s -o ControlPath={self.control_dir}/%C"
                  f" -o ConnectTimeout=5 -o ServerAliveInterval=2 -o ServerAliveCountMax=3")
        group_vars = {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": common,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_pipelining": True,
            "bluegreen_app_name": APP,
            "bluegreen_router": "nginx",
            "bluegreen_pools": {color: [f"127.0.0.1:{port}"] for color, port in PORTS.items()},
            "bluegreen_ports": dict(PORTS),
            "bluegreen_lb_port": 80,
            "bluegreen_preview_port": 8080,
            # The colours live on every load balancer's loopback: lb1 probes its own.
            "bluegreen_check_host": self.hosts[0],
            "smoke_test_requests": 4,
            "switch_verify_requests": 10,
            "switch_nginx_drain_timeout": 10,
        }
        group_vars.update(extra_vars)
        inventory = {"all": {"children": {
            "bluegreen_lb": {
                "hosts": {host: {"ansible_host": self.ips[host], "bluegreen_address": self.ips[host]}
                          for host in self.hosts},
                "vars": group_vars,
            },
            "bluegreen_blue": {"hosts": {}},
            "bluegreen_green": {"hosts": {}},
        }}}
        self.inventory.write_text(json.dumps(inventory, indent=2) + "\n")

    def wait_for_ssh(self, hosts: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = list(hosts)
        last = ""
        while pending:
            host = pending[0]
            proc = subprocess.run(
                ["ssh", "-i", str(self.key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                 "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=2",
                 f"root@{self.ips[host]}", "true"],
                capture_output=True, text=True, timeout=10, check=False)
            if proc.returncode == 0:
                pending.pop(0)
                continue
            last = proc.stderr.strip()
            if time.monotonic() > deadline:
                raise FleetError(f"sshd on {host} ({self.ips[host]}) did not answer within {timeout} s: {last}")
            time.sleep(0.3)

    def start(self, versions: dict[str, str], provision: bool, extra_vars: dict) -> None:
        started = time.monotonic()
        self.control_dir.mkdir(mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.run_name, "-f", str(self.key)],
                       check=True, capture_output=True, timeout=30)
        podman("network", "create", self.network)
        for host in self.hosts:
            podman("run", "-d", "--systemd=always", "--name", self.containers[host], "--hostname", host,
                   "--network", self.network, "--label", f"switchyard.sshfleet={self.run_name}", IMAGE)
        for host in self.hosts:
            data = json.loads(podman("inspect", self.containers[host]).stdout)[0]
            self.ips[host] = data["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        pubkey = self.key.with_suffix(".pub").read_text()
        colors = _colors_conf(versions)
        for host in self.hosts:
            self.exec(host, "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys", stdin=pubkey)
            self.exec(host, f"cat > {COLORS_FILE}", stdin=colors)
        self.timings["containers_s"] = round(time.monotonic() - started, 2)
        self.wait_for_ssh(self.hosts, timeout=90)
        for host in self.hosts:
            # nginx started at boot, perhaps before the colours file was there.
            self.exec(host, "for i in $(seq 100); do systemctl is-active -q nginx && break; sleep 0.1; done;"
                            " nginx -t -q && systemctl reload nginx")
        self.timings["ssh_ready_s"] = round(time.monotonic() - started, 2)
        self._write_inventory(extra_vars)
        if provision:
            playbook = self.tmp / "provision.yml"
            playbook.write_text(PROVISION)
            proc = self.playbook(str(playbook), timeout=300)
            if proc.returncode != 0:
                raise FleetError(f"provisioning the fleet failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}")
            self.wait_until(lambda: all(self.served_color(h) == ("blue", versions["blue"]) for h in self.hosts),
                            timeout=30, what="every load balancer to serve blue after provisioning")
        self.timings["ready_s"] = round(time.monotonic() - started, 2)

    @staticmethod
    def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

    def close_masters(self) -> None:
        """End the ssh master connections (ControlPersist) of this lab's runs.

        A master outlives the ansible-playbook that started it (it leaves the process group), so a
        killed run can leave it holding a session whose remote python3 still waits for its module on
        stdin. AWX ends them with the job's execution environment; a test that cancels a run does it here.
        """
        for sock in self.control_dir.glob("*") if self.control_dir.exists() else ():
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, timeout=10,
                           check=False)

    def stop(self) -> None:
        # Close ssh masters (ControlPersist) so no ssh process outlives the run.
        self.close_masters()
        names = list(self.containers.values())
        if names:
            podman("rm", "-f", "-t", "0", *names, check=False, timeout=120)
        podman("network", "rm", "-f", self.network, check=False)


@contextmanager
def fleet(n: int, *, versions: dict[str, str] | None = None, provision: bool = True, extra_vars: dict | None = None):
    """Start n load balancers (lb1..lbN), yield a Fleet, remove everything afterwards.

    provision: apply the collection's nginx role (blue live). extra_vars: more group vars for bluegreen_lb.
    """
    reason = usable()
    if reason:
        raise FleetError(reason)
    cleanup_leftovers()
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    lab = Fleet(n, tmp, secrets.token_hex(3))
    try:
        lab.start(versions or {"blue": "1.0.0", "green": "2.0.0"}, provision, extra_vars or {})
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)
