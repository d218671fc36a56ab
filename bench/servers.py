# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The benchmark's real servers on 127.0.0.1: the blue/green backends and the nginx load balancer.

The backends are one nginx instance of their own with two ``return 200`` servers that add
``X-App-Color`` (fast, so the backends never limit the load and are never reloaded). The load
balancer is a second nginx whose main configuration includes ``<prefix>/conf.d/*.conf`` (where
the switching methods put the ``upstream app`` block) and proxies ``/`` to ``upstream app``.
Both are tests/lib/nginx.py's private nginx (bench.py puts the repository on sys.path).
"""

from __future__ import annotations

import os
import textwrap

from tests.lib.nginx import NginxProcess, main_conf, proxy_server
from tests.lib.ports import LOOPBACK, free_port

NGINX = os.environ.get("BENCH_NGINX", "/usr/sbin/nginx")

BACKEND_SERVER = """\
    server {{
        listen {address};
        location / {{
            add_header X-App-Color {colour} always;
            add_header X-App-Version 1.0.0-{colour} always;
            return 200 "{colour}\\n";
        }}
    }}
"""


class Backends(NginxProcess):
    """Blue and green on two loopback ports, served by one nginx that is never reloaded."""

    def __init__(self, prefix):
        self.ports = {"blue": free_port(), "green": free_port()}
        servers = "".join(BACKEND_SERVER.format(address=f"{LOOPBACK}:{port}", colour=colour)
                          for colour, port in self.ports.items())
        http = "    keepalive_requests 100000;\n    default_type text/plain;\n" + servers
        super().__init__(prefix, main_conf(prefix, http, worker_processes=1, worker_connections=2048), NGINX)

    @property
    def pools(self):
        return {colour: [f"{LOOPBACK}:{port}"] for colour, port in self.ports.items()}

    def start(self):
        self.start_listening(self.ports.values())


class LoadBalancer(NginxProcess):
    """The nginx under test: proxies 127.0.0.1:<port>/ to ``upstream app`` from conf.d."""

    def __init__(self, prefix):
        self.port = free_port()
        server = textwrap.indent(proxy_server(f"{LOOPBACK}:{self.port}", "app"), "    ")
        http = f"    include {prefix}/conf.d/*.conf;\n{server}"
        super().__init__(prefix, main_conf(prefix, http, worker_connections=2048), NGINX)

    def start(self):
        self.start_listening([self.port])

    def clear_conf_d(self):
        for entry in self.conf_d.iterdir():
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
