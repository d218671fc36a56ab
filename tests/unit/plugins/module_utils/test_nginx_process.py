# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Parsing nginx output and reading worker generations from /proc."""

from __future__ import annotations

import os
import subprocess
import sys

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import process as proc

DUMP = """\
nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
# configuration file /etc/nginx/nginx.conf:
user www-data;
pid /run/custom.pid;  # comment
events { worker_connections 768; }
http {
    include /etc/nginx/conf.d/*.conf;
    server { set $pid 1; }
}

# configuration file /etc/nginx/conf.d/bluegreen_shop.conf:
upstream shop { server 10.0.0.1:80; }
"""


def test_included_files_and_pid():
    assert proc.included_files(DUMP) == ["/etc/nginx/nginx.conf", "/etc/nginx/conf.d/bluegreen_shop.conf"]
    assert proc.pid_path_from_dump(DUMP) == "/run/custom.pid"


def test_pid_inside_a_block_or_comment_is_not_the_pid_directive():
    dump = "# configuration file /x.conf:\n# pid /wrong.pid;\nhttp {\n  pid /also-wrong.pid;\n}\n"
    assert proc.pid_path_from_dump(dump) is None


def test_compiled_option():
    version = "nginx version: nginx/1.22.1\nconfigure arguments: --prefix=/usr/share/nginx --pid-path=/run/nginx.pid"
    assert proc.compiled_option(version, "pid-path") == "/run/nginx.pid"
    assert proc.compiled_option(version, "prefix") == "/usr/share/nginx"
    assert proc.compiled_option(version, "conf-path") is None


def test_error_lines_keep_nginx_errors():
    err = ("nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/conf.d/x.conf:3\n"
           "nginx: configuration file /etc/nginx/nginx.conf test failed\n")
    lines = proc.error_lines(err)
    assert lines[0].startswith("nginx: [emerg] unknown directive")
    assert "test failed" in lines[1]
    assert proc.error_lines("something odd\n") == ["something odd"]


def test_children_and_drain_of_real_processes():
    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _index in range(2)]
    try:
        pids = {child.pid for child in children}
        assert pids <= proc.read_children(os.getpid())
        assert proc.wait_for_new_workers(os.getpid(), pids, timeout=0.05) == set()
        assert proc.process_alive(children[0].pid)
        children[0].kill()
        children[0].wait()
        assert proc.wait_for_drain({children[0].pid}, timeout=1) == set()
        assert proc.wait_for_drain({children[1].pid}, timeout=0.05) == {children[1].pid}
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_read_children_of_fake_proc(tmp_path):
    for pid, ppid, comm in ((10, 1, "nginx"), (11, 10, "nginx: worker (a) b"), (12, 10, "x"), (13, 2, "y")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0\n")
    (tmp_path / "self").mkdir()
    assert proc.read_children(10, proc=str(tmp_path)) == {11, 12}
    (tmp_path / "12" / "stat").write_text("12 (x) Z 10 1 1 0\n")
    assert not proc.process_alive(12, proc=str(tmp_path))
    assert proc.process_alive(11, proc=str(tmp_path))
    assert not proc.process_alive(99, proc=str(tmp_path))
