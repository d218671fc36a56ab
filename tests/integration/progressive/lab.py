# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progressive switch's lab: blue and green backends, one real router on loopback, a load client.

Shared by tests/integration/progressive and bench/progressive.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import execute_module, execute_playbook
from tests.lib.backends import ColourBackend
from tests.lib.eda import LoadClient
from tests.lib.haproxy import HAPROXY, LoopbackHaproxy
from tests.lib.nginx import LoopbackNginx
from tests.lib.ports import free_port

APP = "shop"
STEPS = [{"weight": 20, "pause": 2}, {"weight": 50, "pause": 2}, {"weight": 100}]
PLAYBOOK = """\
- name: Front and progressive switch
  hosts: bluegreen_lb
  gather_facts: false
  tasks:
    - name: Converge the nginx front with the traffic log
      ansible.builtin.include_role:
        name: switchyard.bluegreen.nginx
      when: run_front | default(false) | bool
    - name: Switch in steps
      ansible.builtin.include_role:
        name: switchyard.bluegreen.switch
      when: run_switch | default(true) | bool
    - name: Show the result
      ansible.builtin.debug:
        msg: "RESULT {{ switch_result | default({}) | to_json }}"
      when: run_switch | default(true) | bool
"""


class Lab:
    """Blue and green backends, one router (nginx or HAProxy), a playbook and its inventory."""

    def __init__(self, tmp_path: Path, router: str):
        self.router = router
        self.blue = ColourBackend("blue", "1.0.0").start()
        self.green = ColourBackend("green", "2.0.0").start()
        self.pools = {"blue": [self.blue.address], "green": [self.green.address]}
        self.playbook = tmp_path / "play.yml"
        self.playbook.write_text(PLAYBOOK)
        self.traffic_log = tmp_path / "traffic.log"
        self.nginx = self.haproxy = None
        self.load = None
        common = {"ansible_connection": "local", "switch_verify_requests": 10}
        if router == "nginx":
            self.nginx = LoopbackNginx(tmp_path / "nginx")
            self.port = free_port()
            host = {**common, "bluegreen_address": "127.0.0.1", "bluegreen_lb_port": self.port,
                    "bluegreen_preview_port": free_port(),
                    "nginx_conf": str(self.nginx.main_conf), "nginx_config_dir": str(self.nginx.conf_d),
                    "switch_nginx_conf": str(self.nginx.main_conf),
                    "switch_nginx_config_dir": str(self.nginx.conf_d),
                    "nginx_install": False, "nginx_binary": "/usr/sbin/nginx", "nginx_listen_address": "127.0.0.1",
                    "switch_nginx_binary": "/usr/sbin/nginx", "nginx_state_dir": str(tmp_path / "state"),
                    "bluegreen_traffic_log": True, "bluegreen_traffic_log_path": str(self.traffic_log)}
        else:
            self.haproxy = LoopbackHaproxy(tmp_path / "haproxy", APP)
            result = execute_module("haproxy_backend", {"name": APP, "pools": self.pools, "active": "blue",
                                                        "drain_timeout": 2, "apply": False,
                                                        **self.haproxy.module_args()})
            assert not result.failed, dict(result)
            self.haproxy.start()
            self.port = self.haproxy.port
            host = {**common, "bluegreen_router": "haproxy",
                    "switch_haproxy_config_dir": str(self.haproxy.conf_d),
                    "switch_haproxy_admin_socket": str(self.haproxy.socket), "switch_haproxy_binary": HAPROXY,
                    "switch_haproxy_config": [str(self.haproxy.main_cfg), str(self.haproxy.conf_d)],
                    "switch_haproxy_reload_command": self.haproxy.reload_command(),
                    "switch_haproxy_drain_timeout": 2}
        host["switch_verify_urls"] = [f"http://127.0.0.1:{self.port}/"]
        self.inventory = tmp_path / "inventory.json"
        self.inventory.write_text(json.dumps({"all": {
            "vars": {"bluegreen_app_name": APP, "bluegreen_pools": self.pools, "bluegreen_initial_color": "blue",
                     "bluegreen_steps_max_error_rate": 0.02, "bluegreen_steps_min_requests": 10},
            "children": {"bluegreen_lb": {"hosts": {"lb0": host}}},
        }}))
        if self.nginx is not None:
            self.nginx.start()
            front = self.play(run_front=True, run_switch=False)
            assert front.returncode == 0, front.stdout[-4000:]

    def play(self, *args: str, **extra_vars):
        proc = execute_playbook(self.playbook, inventory=self.inventory, extra_vars=extra_vars, args=list(args))
        if self.nginx is not None:
            self.nginx.wait_until_settled()
        return proc

    def switch_under_load(self, steps, rate: float = 100.0):
        """The switch to green (in steps when `steps`) while the load client runs; returns (proc, records)."""
        self.load = LoadClient(self.port, rate=rate).start()
        time.sleep(0.5)
        proc = self.play(bluegreen_steps=steps, bluegreen_target_color="green")
        time.sleep(0.5)
        self.load.stop()
        records = list(self.load.records)
        self.load = None
        return proc, records

    def colours_now(self, count: int = 20) -> dict[str, int]:
        load = LoadClient(self.port, rate=200.0)
        counts: dict[str, int] = {}
        for _n in range(count):
            _status, colour = load._one()  # one request, as a user
            counts[colour] = counts.get(colour, 0) + 1
        return counts

    def close(self):
        if self.load is not None:
            self.load.stop()
        if self.nginx is not None:
            self.nginx.stop()
        if self.haproxy is not None:
            self.haproxy.stop()
        self.blue.stop()
        self.green.stop()
