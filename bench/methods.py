# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ways of switching an nginx (or HAProxy) load balancer that the benchmark compares.

Each method has ``setup(colour)`` (bring the router to ``colour`` without load and wait until it
is settled), ``switch(colour)`` (one switch, blocking, returns a dict of what the tool itself
reported) and ``broken(colour)`` (the same switch with a typo in the input, see BROKEN_HASH_KEY).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import timeline

from tests.lib import modules
from tests.lib.modules import REPO, VENV_BIN, module_command, module_input

PEERS = Path(__file__).resolve().parent / "peers"

# The same user mistake for every approach: a typo in a variable name in the hash key.
# It passes every syntax check a template or the module can do on its own; only nginx
# itself rejects it ("unknown variable"), which is exactly the failure a switch must survive.
BROKEN_HASH_KEY = "$remote_adr"
UPSTREAM_KEEPALIVE = 16
# Set for every Ansible process of the benchmark, whatever the caller's environment says.
BENCH_ANSIBLE_ENV = {
    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_LOCALHOST_WARNING": "False",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False", "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_STDOUT_CALLBACK": "default",
}


def ansible_env(extra=None):
    return modules.ansible_env({**BENCH_ANSIBLE_ENV, **(extra or {})})


def run_module(name, args, timeout=120):
    """Run one module the way Ansible's executor does: a new interpreter, arguments as JSON on stdin."""
    proc = subprocess.run(
        module_command(name), input=module_input(args), capture_output=True, text=True, env=ansible_env(),
        timeout=timeout, check=False,
    )
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result = {"failed": True, "msg": f"no JSON from {name} (rc={proc.returncode}): {proc.stderr[-2000:]}"}
    return result


def run_playbook(playbook, inventory, extra_vars=None, timeout=300, *, timeline_file=None, env=None):
    """ansible-playbook, timed from its launch to its exit; with ``timeline_file``, also where the time went
    (bench/timeline.py: the bench_timeline callback's events against the launch and the exit)."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    extra = dict(env or {})
    if timeline_file is not None:
        Path(timeline_file).unlink(missing_ok=True)
        extra.update(timeline.ansible_env(timeline_file))
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(extra), timeout=timeout, check=False,
                          cwd=str(REPO))
    end = time.monotonic()
    run = {"rc": proc.returncode, "wall_s": end - start, "output": proc.stdout + proc.stderr, "t_launch": start,
           "t_exit": end}
    if timeline_file is not None:
        run["timeline"] = timeline.parse(timeline_file, start, end, proc.returncode)
    return run


def upstream_block(servers, hash_key=None):
    lines = ["upstream app {"]
    if hash_key:
        lines.append(f"    hash {hash_key};")
    lines += [f"    server {server};" for server in servers]
    lines += [f"    keepalive {UPSTREAM_KEEPALIVE};", "}", ""]
    return "\n".join(lines)


def leftovers(lb, paths):
    """What a failed switch left behind: the files, whether nginx -t passes, and the colour served."""
    test = lb.test_config()
    found = {}
    for name in paths:
        path = Path(name)
        if path.is_symlink():
            target = Path(os.readlink(path))
            found[path.name] = f"symlink -> {target.parent.name}/{target.name}"
        elif path.exists():
            text = path.read_text()
            found[path.name] = "contains the typo" if BROKEN_HASH_KEY in text else "previous content"
    return {"nginx_t_passes": test.returncode == 0,
            "nginx_t_error": "" if test.returncode == 0 else test.stderr.strip().splitlines()[0],
            "files": found}


class NginxUpstreamModule:
    """switchyard.bluegreen.nginx_upstream, one module process per switch (as Ansible runs it)."""

    key = "module"
    label = "nginx_upstream (module)"

    def __init__(self, lb, backends):
        self.lb = lb
        self.backends = backends
        self.path = lb.conf_d / "bluegreen_app.conf"

    def args(self, colour, **extra):
        args = {"name": "app", "pools": self.backends.pools, "active": colour, "path": str(self.path),
                "keepalive": UPSTREAM_KEEPALIVE, "nginx_binary": "/usr/sbin/nginx",
                "nginx_conf": str(self.lb.main_conf),
                "drain_timeout": 30}
        args.update(extra)
        return args

    def setup(self, colour):
        self.lb.clear_conf_d()
        result = run_module("nginx_upstream", self.args(colour, reload=self.lb.master_pid is not None))
        if result.get("failed"):
            raise RuntimeError(f"nginx_upstream setup failed: {result.get('msg')}")

    def switch(self, colour):
        result = run_module("nginx_upstream", self.args(colour))
        return {"ok": not result.get("failed") and result.get("changed") is True,
                "msg": result.get("msg", ""), "timings": result.get("timings"), "drained": result.get("drained")}

    def broken(self, colour):
        result = run_module("nginx_upstream", self.args(colour, balance="hash", hash_key=BROKEN_HASH_KEY))
        info = leftovers(self.lb, [self.path, f"{self.path}.previous"])
        info["tool_failed"] = bool(result.get("failed"))
        info["tool_message"] = (result.get("nginx_errors") or [result.get("msg", "")])[0]
        return info


class TemplatePlaybook:
    """Peer 1: ansible.builtin.template of the upstream plus handlers (nginx -t, then reload), like common roles."""

    key = "template"
    label = "template + reload handler"

    def __init__(self, lb, backends, workdir):
        self.lb = lb
        self.backends = backends
        self.path = lb.conf_d / "app_upstream.conf"
        self.inventory = Path(workdir) / "peer_inventory.yml"
        self.inventory.write_text(
            "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
            f"      ansible_python_interpreter: {sys.executable}\n"
        )
        self.wall = []

    def vars(self, colour, hash_key=""):
        return {"peer_upstream_path": str(self.path), "peer_servers": self.backends.pools[colour],
                "peer_hash_key": hash_key, "peer_keepalive": UPSTREAM_KEEPALIVE,
                "peer_nginx_cmd": ["/usr/sbin/nginx", "-c", str(self.lb.main_conf)]}

    def setup(self, colour):
        self.lb.clear_conf_d()
        self.path.write_text(upstream_block(self.backends.pools[colour]))

    def switch(self, colour):
        run = run_playbook(PEERS / "template_switch.yml", self.inventory, self.vars(colour))
        ok = run["rc"] == 0
        return {"ok": ok, "msg": "" if ok else run["output"][-1500:], "wall_s": run["wall_s"]}

    def broken(self, colour):
        run = run_playbook(PEERS / "template_switch.yml", self.inventory, self.vars(colour, BROKEN_HASH_KEY))
        info = leftovers(self.lb, [self.path])
        info["tool_failed"] = run["rc"] != 0
        # The handler's stderr is JSON-escaped inside ansible's output: unescape quotes, stop at "\n".
        text = run["output"].replace('\\\\"', '"').replace('\\"', '"')
        emerg = re.search(r"\[emerg\] \S+ (.+?)(?:\\n|\n|$)", text)
        info["tool_message"] = f"[emerg] {emerg.group(1)}" if emerg else run["output"].strip()[-300:]
        return info


class SymlinkSwap:
    """Peer 2: one file per colour, ``ln -sfn`` the live one into conf.d, then ``nginx -s reload``."""

    key = "symlink"
    label = "symlink swap + reload"

    def __init__(self, lb, backends, workdir):
        self.lb = lb
        self.backends = backends
        self.variants = Path(workdir) / "variants"
        self.variants.mkdir(parents=True, exist_ok=True)
        self.link = lb.conf_d / "app_upstream.conf"
        for colour, servers in backends.pools.items():
            (self.variants / f"{colour}.conf").write_text(upstream_block(servers))
            (self.variants / f"{colour}-typo.conf").write_text(upstream_block(servers, BROKEN_HASH_KEY))

    def _swap(self, name):
        start = time.monotonic()
        steps = [["ln", "-sfn", str(self.variants / name), str(self.link)], self.lb.command("-s", "reload")]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                return {"ok": False, "msg": proc.stderr.strip(), "wall_s": time.monotonic() - start}
        return {"ok": True, "msg": "", "wall_s": time.monotonic() - start}

    def setup(self, colour):
        self.lb.clear_conf_d()
        os.symlink(self.variants / f"{colour}.conf", self.link)

    def switch(self, colour):
        return self._swap(f"{colour}.conf")

    def broken(self, colour):
        run = self._swap(f"{colour}-typo.conf")
        info = leftovers(self.lb, [self.link])
        info["tool_failed"] = not run["ok"]
        info["tool_message"] = run["msg"].splitlines()[0] if run["msg"] else ""
        return info


class SwitchPlaybooks:
    """playbooks/switch.yml and playbooks/rollback.yml end to end (ansible-playbook, connection local), in turn
    with the floor of issue #16 (bench/peers/): minimal_rollback.yml as a third switch of each round, and
    floor_start.yml (no switch) once per round in the gap after it (``between``), all under the same load."""

    key = "playbooks"
    label = "switch.yml / rollback.yml (and the floor's minimal_rollback.yml)"
    # One round: each switches to the other colour, so the directions alternate from round to round.
    PLAN = ("switch.yml", "rollback.yml", "minimal_rollback.yml")

    def __init__(self, lb, backends, workdir):
        self.lb = lb
        self.module = NginxUpstreamModule(lb, backends)
        self.inventory = Path(workdir) / "switch_inventory.yml"
        inventory = {
            "all": {
                "vars": {
                    "ansible_python_interpreter": sys.executable,
                    "bluegreen_app_name": "app",
                    "bluegreen_pools": backends.pools,
                    "bluegreen_public_url": f"http://127.0.0.1:{lb.port}/",
                    "bluegreen_color_header": "X-App-Color",
                    "bluegreen_health_path": "/healthz",
                    "switch_nginx_config_dir": str(lb.conf_d),
                    "switch_nginx_binary": "/usr/sbin/nginx",
                    "switch_nginx_conf": str(lb.main_conf),
                    "switch_verify_validate_certs": False,
                },
                "children": {
                    "bluegreen_lb": {"hosts": {"lb": {"ansible_connection": "local"}}},
                    "bluegreen_blue": {"hosts": {}},
                    "bluegreen_green": {"hosts": {}},
                },
            }
        }
        self.inventory.write_text(json.dumps(inventory, indent=2))
        self.timeline_file = Path(workdir) / "playbook_timeline.jsonl"
        self.live = None
        self.done = 0

    def setup(self, colour):
        self.module.setup(colour)
        self.live = colour
        self.done = 0

    @staticmethod
    def path(playbook):
        return REPO / "playbooks" / playbook if playbook in ("switch.yml", "rollback.yml") else PEERS / playbook

    def switch(self, colour):
        playbook = self.PLAN[self.done % len(self.PLAN)]
        self.done += 1
        # No preview listener on the benchmark's load balancer: the smoke test probes the colour directly.
        run = run_playbook(self.path(playbook), self.inventory, {"smoke_test_preview": False},
                           timeline_file=self.timeline_file)
        ok = run["rc"] == 0
        return {"ok": ok, "playbook": playbook, "wall_s": run["wall_s"], "timeline": run["timeline"],
                "msg": "" if ok else run["output"][-3000:]}

    def between(self):
        """After the round's last switch and its gap: floor_start.yml, timed alone (it switches nothing)."""
        if self.done % len(self.PLAN):
            return None
        run = run_playbook(self.path("floor_start.yml"), self.inventory, timeline_file=self.timeline_file)
        return {"ok": run["rc"] == 0, "playbook": "floor_start.yml", "wall_s": run["wall_s"],
                "timeline": run["timeline"], "msg": "" if run["rc"] == 0 else run["output"][-1500:]}
