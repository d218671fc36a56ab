#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alb_switch_info
short_description: Report which colour an AWS Application Load Balancer listener or rule forwards to
version_added: 0.2.0
description:
  - Reads the C(forward) action of one ALB listener (its default action) or one listener rule and reports its target
    groups with their weights and stickiness, the way M(switchyard.bluegreen.alb_switch) sees them. Never changes
    anything.
  - With O(pools), the weights are reported per colour, with the active colour, and whether the forward action
    holds only the pools' target groups (RV(managed)).
  - Needs C(elasticloadbalancing:DescribeLoadBalancers), C(DescribeListeners), C(DescribeRules) and, with O(pools),
    C(DescribeTargetGroups); with O(health) also C(DescribeTargetHealth).
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_alb
  - switchyard.bluegreen.attributes.info_module
  - switchyard.bluegreen.aws
options:
  listener_arn:
    description:
      - ARN of the listener. One of O(listener_arn), O(rule_arn) and O(load_balancer_name) is required.
    type: str
  rule_arn:
    description:
      - ARN of the listener rule.
    type: str
  load_balancer_name:
    description:
      - Name of the Application Load Balancer; with O(listener_port) it selects the listener.
    type: str
  listener_port:
    description:
      - Port of the listener on O(load_balancer_name).
    type: int
  rule_priority:
    description:
      - Read the rule with this priority of the selected listener instead of its default action.
    type: int
  pools:
    description:
      - Colour to target group name or ARN, as for M(switchyard.bluegreen.alb_switch).
    type: dict
  health:
    description:
      - Also report the health of every colour's targets (needs O(pools)).
    type: bool
    default: false
seealso:
  - module: switchyard.bluegreen.alb_switch
"""

EXAMPLES = r"""
- name: Which colour does the HTTPS listener serve?
  switchyard.bluegreen.alb_switch_info:
    region: eu-west-1
    load_balancer_name: shop
    listener_port: 443
    pools: {blue: shop-blue, green: shop-green}
    health: true
  register: alb

- name: Show it
  ansible.builtin.debug:
    msg: "live colour {{ alb.active }}, weights {{ alb.weights }}"
"""

RETURN = r"""
active:
  description: The only colour with a weight above 0; V(null) when split, without O(pools), or none.
  returned: success
  type: str
  sample: blue
weights:
  description: Weight per colour (V(0) for a colour not in the forward action); V(null) without O(pools).
  returned: success
  type: dict
  sample: {blue: 1, green: 0}
forward:
  description: Target groups of the forward action as C(arn), C(weight) and C(color) (V(null) when no colour).
  returned: success
  type: list
  elements: dict
has_forward:
  description: Whether the listener or rule has a forward action at all.
  returned: success
  type: bool
managed:
  description: V(true) when there is a forward action and all its target groups are colours of O(pools).
  returned: success
  type: bool
stickiness:
  description: Target group stickiness of the forward action, C({enabled, duration}).
  returned: success
  type: dict
target:
  description: The listener or rule read (C(kind), C(load_balancer_name), C(listener_arn), C(port), C(protocol),
    C(rule_arn), C(priority), C(load_balancer_arn)).
  returned: success
  type: dict
target_groups:
  description: Colour to its target group (C(arn), C(name), C(vpc_id), C(target_type)).
  returned: success
  type: dict
actions:
  description: The actions as AWS returned them.
  returned: success
  type: list
  elements: dict
health:
  description: With O(health), per colour C(healthy), C(registered) and C(targets) with state and reason.
  returned: success
  type: dict
api_calls:
  description: ELBv2 API calls made (C(total), C(http_requests), C(by_operation)).
  returned: always
  type: dict
  sample: {total: 3, http_requests: 3, by_operation: {DescribeListeners: 2, DescribeLoadBalancers: 1}}
"""

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.module import (  # noqa: E402
    aws_module,
    run_aws_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.spec import (  # noqa: E402
    SELECTION_MUTUALLY_EXCLUSIVE,
    SELECTION_REQUIRED_ONE_OF,
    SELECTION_REQUIRED_TOGETHER,
    SERVICE,
    selection_argument_spec,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.switch import info  # noqa: E402


def main():
    argument_spec = selection_argument_spec()
    argument_spec["health"] = {"type": "bool", "default": False}
    module = aws_module(
        argument_spec,
        mutually_exclusive=SELECTION_MUTUALLY_EXCLUSIVE,
        required_one_of=SELECTION_REQUIRED_ONE_OF,
        required_together=SELECTION_REQUIRED_TOGETHER,
        required_if=[["health", True, ["pools"]]],
    )
    run_aws_module(module, SERVICE, lambda make_client: info(make_client("elbv2"), module.params))


if __name__ == "__main__":
    main()
