# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""haproxy_backend: missing programs are refused up front or raise (never fail_json from run_command)."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import process as hprocess
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import spec as hspec


class RaisingModule:
    def run_command(self, args, check_rc=False, handle_exceptions=True):
        assert handle_exceptions is False, "a missing program must raise, not fail_json"
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), args[0])


class BinModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return None


def test_missing_haproxy_raises_command_error():
    haproxy = hprocess.Haproxy(RaisingModule(), "/nonexistent/haproxy", ["/etc/haproxy/haproxy.cfg"])
    with pytest.raises(hprocess.HaproxyCommandError, match="cannot run /nonexistent/haproxy"):
        haproxy.check()
    with pytest.raises(hprocess.HaproxyCommandError, match="cannot run systemctl"):
        haproxy.reload()


def test_check_programs_names_the_option(tmp_path):
    params = {"haproxy_binary": "/nonexistent/sbin/haproxy", "apply": True, "reload_command": None}
    with pytest.raises(hspec.HaproxyError, match="haproxy_binary"):
        hprocess.check_programs(BinModule(), params)
    assert hprocess.check_programs(BinModule(check_mode=True), params) == "/nonexistent/sbin/haproxy"
    binary = tmp_path / "haproxy"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    params = {"haproxy_binary": str(binary), "apply": True, "reload_command": ["no-such-reloader"]}
    with pytest.raises(hspec.HaproxyError, match="reload_command"):
        hprocess.check_programs(BinModule(), params)
    params["apply"] = False
    assert hprocess.check_programs(BinModule(), params) == str(binary)
