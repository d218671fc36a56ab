#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alb_switch
short_description: Switch an AWS Application Load Balancer listener or rule between blue and green target groups
version_added: 0.2.0
description:
  - Points the C(forward) action of one ALB listener (its default action) or one listener rule at the target groups
    of the colours in O(pools). O(active) sends all traffic to one colour; O(weights) splits it. Either way the whole
    C(ForwardConfig.TargetGroups) list (and its C(TargetGroupStickinessConfig)) is replaced in B(one)
    C(ModifyListener) or C(ModifyRule) call, which AWS applies atomically.
  - Every colour of O(pools) stays in the forward action, an idle one with weight V(0). Its target group then stays
    associated with the load balancer, so ALB keeps health-checking its targets (a target group used by no listener
    reports them C(unused)) and the next switch can check them.
  - Idempotent on the normalised state as AWS returns it (target group ARNs, weights, stickiness), whichever of
    AWS's two spellings of a forward action was read (C(TargetGroupArn) or C(ForwardConfig)). A re-run of the same
    switch reads, reports C(changed=false) and writes nothing.
  - Everything else is kept as read. Only C(DefaultActions) (or the rule's C(Actions)) is sent, so the port,
    protocol, certificates, TLS policy and a rule's conditions and priority are untouched; other actions of the
    list (for example C(authenticate-oidc) before the forward) are passed back unchanged, their C(Order) included
    (an OIDC action is sent with C(UseExistingClientSecret), because AWS never returns the secret).
  - ELBv2 has no conditional write. The listener or rule is read again right before the write and must equal what
    the plan was made from (else nothing is written), and read back after it; anything but exactly the planned
    result (another writer in between) fails the task with C(race=true), naming what is live.
  - Before the switch every colour that will get traffic must have at least one C(healthy) target
    (C(DescribeTargetHealth)); otherwise the task fails naming each target with its state and reason, and changes
    nothing. See O(require_healthy) and O(health_wait_timeout).
  - Checked locally before any call, because the local emulator accepts them and AWS refuses them late, namely weights
    0-999 and not all 0, at most 5 target groups, stickiness duration 1-604800 s, target groups in the load
    balancer's VPC, not used by another load balancer, HTTP/HTTPS or Lambda, ARNs of an Application Load Balancer.
  - Needs the IAM permissions C(elasticloadbalancing:DescribeLoadBalancers), C(DescribeListeners),
    C(DescribeRules), C(DescribeTargetGroups), C(DescribeTargetHealth), and C(ModifyListener) or C(ModifyRule);
    with O(preview) also C(CreateRule) (a new preview rule); with O(drained) C(DescribeTargetGroupAttributes) and,
    for O(drain_method=request_count), C(cloudwatch:GetMetricStatistics). docs/alb_switch.md has the policy.
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_alb
  - switchyard.bluegreen.aws
attributes:
  check_mode:
    support: full
    details:
      - Reads, validates, checks health and predicts C(changed), the weights and the new actions; writes nothing
        and does not wait.
  diff_mode:
    support: full
    details:
      - Shows weights per colour, stickiness and the preview colour before and after.
  idempotent:
    support: full
options:
  listener_arn:
    description:
      - ARN of the listener whose default action is switched (or, with O(rule_priority), whose rule is switched).
      - One of O(listener_arn), O(rule_arn) and O(load_balancer_name) is required.
    type: str
  rule_arn:
    description:
      - ARN of the listener rule whose actions are switched. Its conditions and priority are kept.
    type: str
  load_balancer_name:
    description:
      - Name of the Application Load Balancer; with O(listener_port) it selects the listener.
    type: str
  listener_port:
    description:
      - Port of the listener on O(load_balancer_name). Required with O(load_balancer_name).
    type: int
  rule_priority:
    description:
      - Switch the rule with this priority (1-50000) of the selected listener instead of its default action.
      - The rule must exist; its conditions are kept.
    type: int
  pools:
    description:
      - Colour to target group, by name or ARN. 2-5 colours (one forward action takes at most 5 target groups);
        colour names are 1-64 letters, digits or V(_).
    type: dict
    required: true
  active:
    description:
      - The colour that takes all traffic. Every other colour gets weight V(0).
      - Its weight is V(1), or the weight it already has when it already is the only colour with traffic.
      - Mutually exclusive with O(weights); one of the two is required.
    type: str
  weights:
    description:
      - Colour to ALB weight (0-999); colours not given get V(0); at least one above V(0).
      - Weights are relative. V(blue=9, green=1) sends about 10 % of new requests to green.
    type: dict
  stickiness:
    description:
      - Target group stickiness of the forward action (C(TargetGroupStickinessConfig)). Not given, the current
        setting is kept.
      - With it enabled, a client that was sent to a target group keeps going to it for O(stickiness.duration)
        seconds (ALB's C(AWSALBTG) cookie) B(even after a switch) as long as that target group still has a weight
        above V(0). After a switch to O(active), the old colour has weight V(0) and sticky clients move; during a
        O(weights) split (canary) they stay, which keeps a user's session on one colour.
    type: dict
    suboptions:
      enabled:
        description: Whether target group stickiness is on.
        type: bool
        required: true
      duration:
        description: How long a client stays on its target group, 1-604800 seconds. Required when enabled.
        type: int
  require_healthy:
    description:
      - Refuse to give traffic to a colour whose target group has no C(healthy) target. The error names every target
        with its state and reason (for example C(Target.FailedHealthChecks)).
      - Checked only when the switch changes something.
    type: bool
    default: true
  health_wait_timeout:
    description:
      - When a colour that gets traffic has no healthy target yet, wait up to this many seconds (botocore's
        C(target_in_service) waiter on its registered targets) before refusing. V(0) does not wait.
    type: int
    default: 0
  force:
    description:
      - Remove target groups that are no colour of O(pools) from the forward action. Without it the module refuses
        and names them.
    type: bool
    default: false
  preview:
    description:
      - A test listener or header-conditioned rule that always forwards to the idle colour, like CodeDeploy's test
        listener. It is pointed at the idle colour before the switch is written (it takes no production traffic).
      - Give one of O(preview.listener_arn), O(preview.listener_port) (a listener of the same load balancer, which
        must exist and have a forward action) or O(preview.rule_priority) (a rule of the switched listener).
    type: dict
    suboptions:
      listener_arn:
        description: ARN of the test listener (same load balancer).
        type: str
      listener_port:
        description: Port of the test listener on the same load balancer.
        type: int
      rule_priority:
        description:
          - Priority of the preview rule on the switched listener. When no rule has it, it is created with an
            C(http-header) condition from O(preview.header_name) and O(preview.header_values).
          - An existing rule keeps its conditions; with O(preview.header_name) they must be exactly that header
            condition.
        type: int
      header_name:
        description: HTTP header of the preview rule's condition, for example V(X-Preview).
        type: str
      header_values:
        description: Values of the header that select the preview (1-5, C(*) and C(?) wildcards as ALB allows).
        type: list
        elements: str
      color:
        description:
          - Colour the preview forwards to. Default the one colour with weight V(0) after this switch.
        type: str
  drained:
    description:
      - After a switch that took all traffic away from a colour, wait until that colour is drained (see
        O(drain_method)). Not done in check mode or when nothing changed.
      - ALB routes every new request by the new weights at once (sticky clients aside); what remains are requests
        already running on the old targets.
    type: bool
    default: false
  drain_method:
    description:
      - V(deregistration_delay) waits for the old target group's C(deregistration_delay.timeout_seconds), the time
        a team allows a request to finish.
      - V(request_count) polls CloudWatch C(RequestCount) of the old target group until a whole minute after the
        switch had no request, or the deregistration delay has passed. CloudWatch publishes ALB metrics per minute
        and a minute or more late, so this takes at least about 3 minutes; without C(cloudwatch:GetMetricStatistics)
        it falls back to the delay with a warning.
    type: str
    choices: [deregistration_delay, request_count]
    default: deregistration_delay
  drain_timeout:
    description:
      - Upper bound of the O(drained) wait in seconds. When it is shorter than the deregistration delay, the result
        says C(drained=false) with a warning.
    type: int
    default: 900
notes:
  - Load balancers are regional, so set O(region) (or E(AWS_REGION)).
  - One run switches one listener or rule. For an HTTP and an HTTPS listener, run it once per listener; each call
    is atomic on its own.
seealso:
  - module: switchyard.bluegreen.alb_switch_info
  - name: ALB listener forward actions and weighted target groups
    description: AWS documentation of forward actions, weights and target group stickiness.
    link: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html
"""

EXAMPLES = r"""
- name: Send all traffic of the HTTPS listener to green
  switchyard.bluegreen.alb_switch:
    region: eu-west-1
    load_balancer_name: shop
    listener_port: 443
    pools:
      blue: shop-blue
      green: shop-green
    active: green

- name: Canary - 10 % to green on a listener rule, keep users on one colour for 10 minutes
  switchyard.bluegreen.alb_switch:
    region: eu-west-1
    rule_arn: "{{ api_rule_arn }}"
    pools: {blue: api-blue, green: api-green}
    weights: {blue: 9, green: 1}
    stickiness: {enabled: true, duration: 600}

- name: Switch, point the test listener on 8443 at the idle colour, wait for the old colour to drain
  switchyard.bluegreen.alb_switch:
    region: eu-west-1
    load_balancer_name: shop
    listener_port: 443
    pools: {blue: shop-blue, green: shop-green}
    active: blue
    preview: {listener_port: 8443}
    drained: true
    drain_timeout: 300

- name: Preview as a header rule on the production listener (created when missing)
  switchyard.bluegreen.alb_switch:
    load_balancer_name: shop
    listener_port: 443
    pools: {blue: shop-blue, green: shop-green}
    active: blue
    preview: {rule_priority: 10, header_name: X-Preview, header_values: ["1"]}
"""

RETURN = r"""
active:
  description: Colour that takes all traffic after the switch; V(null) when weights split it.
  returned: success
  type: str
  sample: green
previous_active:
  description: Colour that took all traffic before; V(null) when split or none of O(pools).
  returned: success
  type: str
  sample: blue
weights:
  description: ALB weight per colour after the switch (predicted in check mode).
  returned: success
  type: dict
  sample: {blue: 0, green: 1}
previous_weights:
  description: ALB weight per colour before (V(0) for a colour not in the forward action).
  returned: success
  type: dict
  sample: {blue: 1, green: 0}
stickiness:
  description: Target group stickiness after, C({enabled, duration}); V(null) when AWS reports none.
  returned: success
  type: dict
  sample: {enabled: false}
previous_stickiness:
  description: Target group stickiness before, same shape as RV(stickiness).
  returned: success
  type: dict
target:
  description: The switched listener or rule.
  returned: success
  type: dict
  sample: {kind: listener, load_balancer_name: shop, listener_arn: "arn:aws:elasticloadbalancing:...", port: 443,
           protocol: HTTPS, rule_arn: null, priority: null, load_balancer_arn: "arn:aws:elasticloadbalancing:..."}
target_groups:
  description: Colour to its target group (C(arn), C(name), C(vpc_id), C(target_type)).
  returned: success
  type: dict
health:
  description:
    - Per colour that gets traffic, C(healthy) and C(registered) target counts and C(targets) (C(target), C(state),
      C(reason), C(description)) as C(DescribeTargetHealth) gave them. Empty when nothing changes.
  returned: success
  type: dict
actions_before:
  description: The listener's default actions (or the rule's actions) as read.
  returned: success
  type: list
  elements: dict
actions_after:
  description: The actions written (or that would be written in check mode); equal to RV(actions_before) without change.
  returned: success
  type: list
  elements: dict
preview:
  description:
    - The preview listener or rule (C(kind), C(color), C(changed), C(created), its ARN and port or priority);
      V(null) without O(preview).
  returned: success
  type: dict
drain:
  description:
    - The O(drained) wait (C(colors), C(method), C(waited) seconds, C(drained), C(deregistration_delay), and
      C(request_count) per colour with V(request_count)); V(null) without a wait.
  returned: success
  type: dict
race:
  description: V(true) when another writer changed the listener or rule around this run's write.
  returned: failure
  type: bool
unhealthy_targets:
  description: On a health refusal, the targets of the refused colour with their state and reason.
  returned: failure
  type: list
  elements: dict
api_calls:
  description: ELBv2 (and CloudWatch) API calls this task made.
  returned: always
  type: dict
  contains:
    total:
      description: API operations called (a retried call counts once).
      type: int
      sample: 7
    http_requests:
      description: HTTP requests sent, retries included.
      type: int
      sample: 7
    by_operation:
      description: Calls per API operation.
      type: dict
      sample: {DescribeListeners: 3, DescribeLoadBalancers: 1, DescribeTargetGroups: 1, DescribeTargetHealth: 1,
               ModifyListener: 1}
"""

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.module import (  # noqa: E402
    aws_module,
    run_aws_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.spec import (  # noqa: E402
    SELECTION_REQUIRED_TOGETHER,
    SERVICE,
    SWITCH_MUTUALLY_EXCLUSIVE,
    SWITCH_REQUIRED_ONE_OF,
    switch_argument_spec,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._elbv2.switch import switch  # noqa: E402


def main():
    module = aws_module(
        switch_argument_spec(),
        mutually_exclusive=SWITCH_MUTUALLY_EXCLUSIVE,
        required_one_of=SWITCH_REQUIRED_ONE_OF,
        required_together=SELECTION_REQUIRED_TOGETHER,
    )

    def run(make_client):
        # CloudWatch only for drain_method=request_count, after the switch.
        return switch(make_client("elbv2"), module.params, check_mode=module.check_mode,
                      cloudwatch_factory=lambda: make_client("cloudwatch"))

    run_aws_module(module, SERVICE, run)


if __name__ == "__main__":
    main()
