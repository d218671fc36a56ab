# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""nginx_upstream on a ``stream {}`` (TCP) upstream, with a real nginx and two real TCP backends.

The nginx loads Debian's stream module the way the package does it: ``modules-enabled/50-mod-stream.conf``
is the package's own ``load_module modules/ngx_stream_module.so;`` line, included at the top of the main
file, and ``modules`` under the prefix points at the package's module directory (Debian's
``/usr/share/nginx/modules`` is the same link). The stream block includes ``stream.d/*.conf`` (the managed
file) and proxies one loopback TCP port to ``upstream db``; the http block is there too, as on a real host.
Each backend writes its colour on every connection: a connection through nginx shows which one answered.
After every step ``nginx -t`` passes on disk.
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from pathlib import Path

import pytest

from tests.conftest import execute_module
from tests.lib.files import digest
from tests.lib.nginx import NGINX, NginxProcess, main_conf
from tests.lib.ports import LOOPBACK, free_port

NAME = "db"
PACKAGE_MODULES = Path("/usr/lib/nginx/modules")
PACKAGE_STREAM_CONF = Path("/usr/share/nginx/modules-available/mod-stream.conf")

STREAM_BLOCK = """\
stream {{
    include {prefix}/stream.d/*.conf;
    server {{
        listen {listen};
        proxy_pass {name};
        proxy_connect_timeout 2s;
    }}
}}
"""


def stream_main_conf(prefix, listen):
    """A private nginx that loads the stream module as Debian's modules-enabled does, with a TCP proxy."""
    return main_conf(prefix, f"    include {prefix}/conf.d/*.conf;", worker_connections=256,
                     top=f"include {prefix}/modules-enabled/*.conf;\n",
                     after=STREAM_BLOCK.format(prefix=prefix, listen=listen, name=NAME))


class TcpColour:
    """A loopback TCP server that writes its colour and closes, on every connection."""

    def __init__(self, colour: str):
        payload = f"{colour}\n".encode()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(payload)

        self.server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.address = f"{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"tcp-{colour}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StreamLab:
    """nginx with a stream proxy on ``port`` to ``upstream db``, blue and green TCP backends."""

    def __init__(self, prefix: Path):
        missing = [str(path) for path in (PACKAGE_MODULES / "ngx_stream_module.so", PACKAGE_STREAM_CONF)
                   if not path.exists()]
        assert not missing, (f"nginx's stream module is not installed ({', '.join(missing)} missing): "
                             "install libnginx-mod-stream (scripts/system-deps.sh does)")
        self.blue, self.green = TcpColour("blue"), TcpColour("green")
        self.port = free_port()
        (prefix / "modules-enabled").mkdir(parents=True)
        (prefix / "modules-enabled" / "50-mod-stream.conf").write_text(PACKAGE_STREAM_CONF.read_text())
        (prefix / "modules").symlink_to(PACKAGE_MODULES)
        self.stream_d = prefix / "stream.d"
        self.stream_d.mkdir()
        self.nginx = NginxProcess(prefix, stream_main_conf(prefix, f"{LOOPBACK}:{self.port}"))
        self.path = self.stream_d / f"bluegreen_{NAME}.conf"
        self.state_dir = prefix / "state"

    def args(self, **overrides) -> dict:
        args = {"name": NAME, "pools": {"blue": [self.blue.address], "green": [self.green.address]},
                "path": str(self.path), "state_dir": str(self.state_dir), "drain_timeout": 5,
                "nginx_binary": NGINX, "nginx_conf": str(self.nginx.main_conf), "nginx_prefix": str(self.nginx.prefix)}
        args.update(overrides)
        return args

    def switch(self, check_mode=False, **overrides):
        return execute_module("nginx_upstream", self.args(**overrides), check_mode=check_mode)

    def answers(self, count: int = 20) -> dict[str, int]:
        """``count`` TCP connections through nginx's stream proxy, tallied by the colour that answered."""
        tally: dict[str, int] = {}
        for _connection in range(count):
            with socket.create_connection((LOOPBACK, self.port), timeout=5) as conn:
                data = b""
                while chunk := conn.recv(64):
                    data += chunk
            key = data.decode().strip() or "closed-without-answer"
            tally[key] = tally.get(key, 0) + 1
        return tally

    def assert_nginx_t(self) -> None:
        result = self.nginx.test_config()
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        self.nginx.stop()
        self.blue.stop()
        self.green.stop()


@pytest.fixture
def lab(tmp_path):
    """nginx running with the TCP upstream db on blue (the first file written by the module, no reload)."""
    lab = StreamLab(tmp_path / "nginx")
    try:
        first = lab.switch(active="blue", reload=False)
        assert not first.failed, first
        lab.assert_nginx_t()
        lab.nginx.start_listening([lab.port])
        lab.nginx.wait_for_workers()
        yield lab
    finally:
        lab.stop()


def test_tcp_switch_moves_connections_and_rerun_is_idempotent(lab: StreamLab):
    assert lab.answers() == {"blue": 20}
    workers = lab.nginx.worker_pids()
    result = lab.switch(active="green")
    assert not result.failed, result
    assert result["changed"] and result["reloaded"] and result["drained"]
    assert (result["active"], result["previous_active"]) == ("green", "blue")
    assert f"server {lab.green.address};" in lab.path.read_text()
    lab.assert_nginx_t()
    assert workers.isdisjoint(lab.nginx.worker_pids())
    assert lab.answers() == {"green": 20}
    # The same request again: nothing written, no reload.
    stat_before = os.stat(lab.path)
    workers = lab.nginx.worker_pids()
    again = lab.switch(active="green")
    assert not again.failed, again
    assert not again["changed"] and not again["reloaded"]
    stat_after = os.stat(lab.path)
    assert (stat_after.st_ino, stat_after.st_mtime_ns) == (stat_before.st_ino, stat_before.st_mtime_ns)
    assert lab.nginx.worker_pids() == workers
    lab.assert_nginx_t()
    assert lab.answers() == {"green": 20}
    # And back: the backup of the green file is in state_dir, not next to the file stream.d loads.
    back = lab.switch(active="blue")
    assert not back.failed and back["changed"], back
    assert back["backup_file"].startswith(str(lab.state_dir) + "/")
    assert sorted(os.listdir(lab.stream_d)) == [lab.path.name]
    lab.assert_nginx_t()
    assert lab.answers() == {"blue": 20}


def test_tcp_weights_split_the_connections(lab: StreamLab):
    result = lab.switch(weights={"blue": 50, "green": 50}, balance="least_conn",
                        server_options={"max_fails": 2, "fail_timeout": "5s", "max_conns": 100})
    assert not result.failed, result
    assert result["weights"] == {"blue": 50, "green": 50} and result["previous_active"] == "blue"
    assert "least_conn;" in lab.path.read_text() and "max_conns=100" in lab.path.read_text()
    lab.assert_nginx_t()
    counts = lab.answers(60)
    assert counts.get("blue", 0) > 0 and counts.get("green", 0) > 0 and sum(counts.values()) == 60, counts
    # Weight 0 takes a colour out of the upstream.
    result = lab.switch(weights={"blue": 0, "green": 100})
    assert not result.failed, result
    assert result["previous_weights"] == {"blue": 50, "green": 50}
    lab.assert_nginx_t()
    assert lab.answers(30) == {"green": 30}
    again = lab.switch(weights={"blue": 0, "green": 100})
    assert not again.failed and not again["changed"] and not again["reloaded"], again


def test_tcp_check_mode_predicts_and_touches_nothing(lab: StreamLab):
    before = digest(lab.path)
    workers = lab.nginx.worker_pids()
    result = lab.switch(check_mode=True, active="green")
    assert not result.failed, result
    assert result["changed"] and not result["reloaded"]
    assert (result["active"], result["previous_active"]) == ("green", "blue")
    assert digest(lab.path) == before
    assert lab.nginx.worker_pids() == workers
    lab.assert_nginx_t()
    assert lab.answers() == {"blue": 20}
    # Check mode of the state already there: nothing to change.
    same = lab.switch(check_mode=True, active="blue")
    assert not same.failed and not same["changed"], same


@pytest.mark.parametrize(("option", "refused"), [
    ({"keepalive": 8}, "keepalive"),
    ({"balance": "ip_hash"}, "balance=ip_hash"),
    ({"keepalive": 4, "balance": "ip_hash"}, "keepalive and no balance=ip_hash"),
])
def test_http_only_options_are_refused_with_the_reason(lab: StreamLab, option, refused):
    before = digest(lab.path)
    workers = lab.nginx.worker_pids()
    reason = f"{lab.path} is included in stream {{ }} (TCP/UDP upstreams), where nginx has no {refused}"
    predicted = lab.switch(check_mode=True, active="green", **option)
    assert predicted.failed and reason in predicted["msg"], predicted
    assert "check mode, nothing was written" in predicted["msg"]
    result = lab.switch(active="green", **option)
    assert result.failed and reason in result["msg"], result
    assert f"{lab.path} was not changed" in result["msg"]
    # Refused from the running configuration before the write: nginx's own error never came into it.
    assert "not allowed here" not in result["msg"] and not result.get("nginx_errors")
    assert digest(lab.path) == before
    assert not (lab.state_dir / str(lab.path).lstrip("/")).with_suffix(".conf.reload-pending").exists()
    assert lab.nginx.worker_pids() == workers
    lab.assert_nginx_t()
    assert lab.answers() == {"blue": 20}


def test_a_file_no_include_loads_gets_the_stream_block_hint(lab: StreamLab):
    elsewhere = lab.nginx.prefix / "tcp.d"
    elsewhere.mkdir()
    path = elsewhere / f"bluegreen_{NAME}.conf"
    hint = (f"add 'include {elsewhere}/*.conf;' (or 'include {path};') inside the stream {{ }} block "
            f"of {lab.nginx.main_conf}")
    predicted = lab.switch(check_mode=True, path=str(path), active="green")
    assert predicted.failed and hint in predicted["msg"], predicted
    result = lab.switch(path=str(path), active="green")
    assert result.failed and hint in result["msg"], result
    assert not path.exists() and os.listdir(elsewhere) == []
    lab.assert_nginx_t()
    assert lab.answers() == {"blue": 20}


def test_a_server_options_clash_is_refused_alike_in_check_mode(lab: StreamLab):
    # backup servers with hash balancing: nginx refuses them; the module says so before touching anything.
    args = {"active": "green", "balance": "hash", "hash_key": "$remote_addr", "idle_backup": True}
    predicted = lab.switch(check_mode=True, **args)
    result = lab.switch(**args)
    assert predicted.failed and result.failed
    assert predicted["msg"] == result["msg"] and "nginx does not allow backup servers" in result["msg"], result
    lab.assert_nginx_t()
    assert lab.answers() == {"blue": 20}


def test_info_reads_the_stream_upstream(lab: StreamLab):
    assert not lab.switch(active="green").failed
    info = execute_module("nginx_upstream_info", {
        "path": str(lab.path), "check_included": True, "nginx_binary": NGINX, "state_dir": str(lab.state_dir),
        "nginx_conf": str(lab.nginx.main_conf), "nginx_prefix": str(lab.nginx.prefix)})
    assert not info.failed, info
    upstream = info["upstreams"][NAME]
    assert (upstream["active"], upstream["previous_active"], upstream["included"]) == ("green", "blue", True)
    assert lab.answers() == {"green": 20}
