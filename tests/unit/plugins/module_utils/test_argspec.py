# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""_common.argspec and _common.managed: the switching options every router shares, and reading managed files."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import argspec
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import ExternalError, InputError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.managed import read_managed
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy import render as hrender
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.spec import build_spec


def validate(spec, params):
    return ArgumentSpecValidator(
        spec,
        mutually_exclusive=argspec.SWITCHING_MUTUALLY_EXCLUSIVE,
        required_if=argspec.SWITCHING_REQUIRED_IF,
    ).validate(params)


def test_shared_options_are_fresh_copies_and_the_router_adds_its_own():
    first = argspec.switching_argument_spec(name={"type": "str", "required": True})
    first["pools"]["type"] = "list"
    second = argspec.switching_argument_spec()
    assert second["pools"] == {"type": "dict"} and "name" not in second
    assert second["state"] == {"type": "str", "default": "present", "choices": ["present", "absent"]}


def test_traffic_rules_need_pools_and_one_of_active_and_weights():
    spec = argspec.switching_argument_spec()
    pools = {"blue": ["127.0.0.1:1"], "green": ["127.0.0.1:2"]}
    assert not validate(spec, {"pools": pools, "active": "blue"}).error_messages
    assert validate(spec, {"pools": pools}).error_messages
    assert validate(spec, {"active": "blue"}).error_messages
    assert validate(spec, {"pools": pools, "active": "blue", "weights": {"blue": 1}}).error_messages
    assert not validate(spec, {"state": "absent"}).error_messages


def test_renamed_option_keeps_the_old_name_with_a_deprecation():
    spec = {"preview_color": argspec.renamed_option("preview_colour", type="str")}
    result = ArgumentSpecValidator(spec).validate({"preview_colour": "green"})
    assert not result.error_messages
    assert result.validated_parameters["preview_color"] == "green"
    [deprecation] = result._deprecations
    assert "'preview_colour' is deprecated" in deprecation["msg"]
    assert (deprecation["version"], deprecation["collection_name"]) == ("1.0.0", "switchyard.bluegreen")
    assert not ArgumentSpecValidator(spec).validate({"preview_color": "green"})._deprecations


def test_number_and_command_checks_name_the_option():
    params = {"reload_timeout": -1, "socket_timeout": 0, "reload_command": []}
    with pytest.raises(InputError, match=r"reload_timeout=-1: use a number of seconds >= 0"):
        argspec.check_seconds(params, at_least_zero=("reload_timeout",))
    with pytest.raises(InputError, match=r"socket_timeout=0: use a number of seconds > 0"):
        argspec.check_seconds(params, above_zero=("socket_timeout",))
    with pytest.raises(InputError, match=r"reload_command must not be empty: .*\[systemctl, reload, x\]"):
        argspec.check_reload_command(params, "[systemctl, reload, x]")
    argspec.check_seconds({"a": 0, "b": 0.5}, at_least_zero=("a",), above_zero=("b",))
    argspec.check_reload_command({"reload_command": None}, "x")


def managed_text(name):
    spec = build_spec({"name": name, "pools": {"blue": ["10.0.0.1:80"], "green": ["10.0.1.1:80"]}, "active": "blue"})
    return hrender.FORMAT.render(spec, hrender.FORMAT.next_metadata(spec, None, "t1"))


def read(**kwargs):
    return read_managed(hrender.describe, owner=hrender.OWNER, kind="backend", pattern="*.cfg", **kwargs)


def test_read_managed_lists_managed_files_and_skips_the_others(tmp_path):
    (tmp_path / "bluegreen_shop.cfg").write_text(managed_text("shop"))
    (tmp_path / "bluegreen_cart.cfg").write_text(managed_text("cart"))
    (tmp_path / "hand_written.cfg").write_text("backend other\n")
    (tmp_path / "bluegreen_shop.cfg.previous").write_text(managed_text("old"))
    found = read(conf_dir=str(tmp_path))
    assert sorted(found) == ["cart", "shop"]
    assert found["shop"]["path"] == str(tmp_path / "bluegreen_shop.cfg") and found["shop"]["active"] == "blue"
    one = read(conf_dir="/nonexistent", path=str(tmp_path / "bluegreen_cart.cfg"))
    assert list(one) == ["cart"]


def test_read_managed_errors_name_the_path(tmp_path):
    with pytest.raises(InputError, match=r"does not exist: no managed backend there"):
        read(conf_dir=str(tmp_path), path=str(tmp_path / "missing.cfg"))
    (tmp_path / "hand.cfg").write_text("backend other\n")
    with pytest.raises(InputError, match=r"is not managed by switchyard.bluegreen.haproxy_backend \(no metadata"):
        read(conf_dir=str(tmp_path), path=str(tmp_path / "hand.cfg"))
    with pytest.raises(InputError, match=r"conf_dir .* is not a directory"):
        read(conf_dir=str(tmp_path / "hand.cfg"))
    (tmp_path / "dir.cfg").mkdir()
    with pytest.raises(ExternalError, match=r"cannot read .*dir.cfg"):
        read(conf_dir=str(tmp_path), path=str(tmp_path / "dir.cfg"))
