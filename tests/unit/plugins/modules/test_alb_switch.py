# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""alb_switch / alb_switch_info argument specs: the rules AnsibleModule enforces before any AWS call.

The endpoint is a closed loopback port: a test that got past the argument spec would fail on the
connection, not pass.
"""

from __future__ import annotations

import pytest

from tests.lib.ports import LOOPBACK, free_port

LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
POOLS = {"blue": "shop-blue", "green": "shop-green"}


@pytest.fixture(scope="module")
def conn():
    return {"endpoint_url": f"http://{LOOPBACK}:{free_port()}", "access_key": "k", "secret_key": "unit-secret",
            "max_attempts": 1}


@pytest.mark.parametrize(("args", "message"), [
    ({"listener_arn": LISTENER, "pools": POOLS, "active": "blue", "weights": {"blue": 1}},
     "parameters are mutually exclusive: active|weights"),
    ({"listener_arn": LISTENER, "pools": POOLS}, "one of the following is required: active, weights"),
    ({"pools": POOLS, "active": "blue"},
     "one of the following is required: listener_arn, rule_arn, load_balancer_name"),
    ({"load_balancer_name": "shop", "pools": POOLS, "active": "blue"},
     "parameters are required together: load_balancer_name, listener_port"),
    ({"listener_arn": LISTENER, "load_balancer_name": "shop", "listener_port": 80, "pools": POOLS, "active": "blue"},
     "mutually exclusive: listener_arn|load_balancer_name"),
    ({"listener_arn": LISTENER, "pools": POOLS, "active": "blue", "stickiness": {"enabled": True}},
     "enabled is True but all of the following are missing: duration"),
    ({"listener_arn": LISTENER, "pools": POOLS, "active": "blue", "preview": {"color": "green"}},
     "one of the following is required: listener_arn, listener_port, rule_priority"),
    ({"listener_arn": LISTENER, "pools": POOLS, "active": "blue",
      "preview": {"rule_priority": 10, "header_name": "X-Preview"}},
     "parameters are required together: header_name, header_values found in preview"),
    ({"listener_arn": LISTENER, "active": "blue"}, "missing required arguments: pools"),
])
def test_alb_switch_argument_spec(run_module, conn, args, message):
    result = run_module("alb_switch", {**args, **conn})
    assert result.failed, result
    assert message in result["msg"]


def test_alb_switch_local_validation_fails_before_any_call(run_module, conn):
    result = run_module("alb_switch", {"listener_arn": LISTENER, "pools": POOLS, "weights": {"blue": 1000}, **conn})
    assert result.failed and "weights.blue=1000" in result["msg"]
    assert result["api_calls"]["total"] == 0 and result["changed"] is False


def test_alb_switch_info_health_needs_pools(run_module, conn):
    result = run_module("alb_switch_info", {"listener_arn": LISTENER, "health": True, **conn})
    assert result.failed and "health is True but all of the following are missing: pools" in result["msg"]


def test_unreachable_endpoint_is_a_clear_error(run_module, conn):
    result = run_module("alb_switch_info", {"listener_arn": LISTENER, **conn})
    assert result.failed and "endpoint_url" in result["msg"]
    assert "unit-secret" not in repr(result)
