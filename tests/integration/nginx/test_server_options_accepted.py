# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""No server-options clash gets past validation: what build_spec accepts, nginx accepts.

Check mode cannot run ``nginx -t`` on a candidate without writing it, so the clashes nginx knows
between server parameters and the balancing method (``backup`` with ip_hash/hash/random, ``weight``/
``backup``/``down`` in server_options) are refused by validation, which runs alike in check mode and
in a real run. This test renders every combination of balance, idle_backup, keepalive, server_options,
active/weights/weight 0 and preview that validation lets through, in ``http {}`` and in ``stream {}``
(minus the http-only options the stream check refuses), and has the real nginx test each one.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import spec as nginx_spec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.switch import http_only_options
from tests.lib.nginx import NGINX

from .test_stream import PACKAGE_MODULES

POOLS = {"blue": ["127.0.0.1:9001", "127.0.0.1:9002"], "green": ["127.0.0.1:9003"]}
SERVER_OPTIONS = ({}, {"max_fails": 0, "fail_timeout": "0", "max_conns": 0},
                  {"max_fails": 3, "fail_timeout": "10s", "max_conns": 5})
TRAFFIC = ({"active": "blue"}, {"weights": {"blue": 30, "green": 70}}, {"weights": {"blue": 100, "green": 0}})


def accepted_specs():
    """(params, spec) for every combination validation accepts; also the number it refused."""
    accepted, refused = [], 0
    for balance, idle_backup, keepalive, options, traffic, preview in itertools.product(
            nginx_spec.BALANCE_METHODS, (False, True), (0, 8), SERVER_OPTIONS, TRAFFIC, (False, True)):
        params = {"name": "app", "pools": POOLS, "balance": balance, "idle_backup": idle_backup,
                  "keepalive": keepalive, "server_options": options, "preview": preview, **traffic}
        if balance == "hash":
            params["hash_key"] = "$remote_addr"
        try:
            accepted.append((params, nginx_spec.build_spec(params)))
        except InputError:
            refused += 1
    return accepted, refused


def test_every_accepted_combination_passes_nginx_t(tmp_path: Path):
    accepted, refused = accepted_specs()
    assert refused > 0 and len(accepted) > 100, (len(accepted), refused)
    conf = tmp_path / "nginx.conf"
    tested, failures = 0, []
    for context in ("http", "stream"):
        load = f"load_module {PACKAGE_MODULES}/ngx_stream_module.so;\n" if context == "stream" else ""
        for params, spec in accepted:
            if context == "stream" and http_only_options(spec):
                continue  # refused up front for a stream include (test_stream.py)
            conf.write_text(f"{load}pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{ }}\n"
                            f"{context} {{\n{nginx_spec.render_body(spec)}}}\n")
            result = subprocess.run([NGINX, "-p", str(tmp_path), "-c", str(conf), "-t", "-q"],
                                    capture_output=True, text=True, check=False)
            tested += 1
            if result.returncode != 0:
                failures.append((context, params, result.stderr.strip()))
    assert tested > 200
    assert failures == [], failures[:5]
