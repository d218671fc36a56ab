# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The HAProxy router of the benchmark: a private master-worker HAProxy on 127.0.0.1 switched by haproxy_backend.

The same blue/green backends as the nginx load balancer; the backend section ``app`` is the
module's managed file in ``<prefix>/conf.d``, loaded with ``-f <prefix>/conf.d`` like the role
sets up the Debian service. A switch is one module process (runtime API, no reload). The
HAProxy itself is tests/lib/haproxy.py's, the one the integration tests run.
"""

from __future__ import annotations

from pathlib import Path

import methods

from tests.lib.haproxy import HAPROXY, LoopbackHaproxy


class HAProxyRouter:
    key = "haproxy"
    label = "haproxy_backend (module)"

    def __init__(self, prefix, backends):
        # No colour header: the backends' own X-App-Color tells the load clients who answered.
        self.haproxy = LoopbackHaproxy(Path(prefix), "app", colour_header=None, maxconn=4096)
        self.port = self.haproxy.port
        self.backends = backends
        self.started = False

    def available(self):
        """'' when the benchmark can run HAProxy, else why not."""
        if not Path(HAPROXY).exists():
            return "haproxy is not installed: the HAProxy phase was not run"
        if not (methods.REPO / "plugins" / "modules" / "haproxy_backend.py").exists():
            return "plugins/modules/haproxy_backend.py does not exist yet: the HAProxy phase was not run"
        return ""

    def args(self, colour, **extra):
        args = {"name": "app", "pools": self.backends.pools, "active": colour, "drain_timeout": 30,
                **self.haproxy.module_args()}
        if self.haproxy.master_pid():
            args["reload_command"] = self.haproxy.reload_command()
        args.update(extra)
        return args

    def start(self):
        result = methods.run_module("haproxy_backend", self.args("blue", apply=False))
        if result.get("failed"):
            raise RuntimeError(f"haproxy_backend could not write the initial backend: {result.get('msg')}")
        self.started = True
        self.haproxy.start()

    def api(self, command):
        return self.haproxy.api(command)

    def setup(self, colour):
        result = methods.run_module("haproxy_backend", self.args(colour))
        if result.get("failed"):
            raise RuntimeError(f"haproxy_backend setup failed: {result.get('msg')}")

    def switch(self, colour):
        result = methods.run_module("haproxy_backend", self.args(colour))
        return {"ok": not result.get("failed") and result.get("changed") is True, "msg": result.get("msg", ""),
                "timings": result.get("timings"), "reloaded": result.get("reloaded")}

    def stop(self):
        if self.started:
            self.haproxy.stop()
