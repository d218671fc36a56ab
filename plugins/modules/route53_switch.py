#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: route53_switch
short_description: Switch a Route53 record between blue and green targets in one atomic change
version_added: 0.1.0
description:
  - Points one Route53 record (type V(A), V(AAAA) or V(CNAME)) at the active colour, or shifts weights between
    colours, with every record set of the switch in B(one) C(ChangeResourceRecordSets) batch. Route53 applies a
    batch all or nothing, so there is never a moment with both colours at full weight or both at zero, and a
    conversion between simple and weighted routing has no gap.
  - The batch is guarded (optimistic concurrency). It DELETEs every current record set of the record exactly as
    read and CREATEs every wanted one, unchanged sets included, instead of a blind C(UPSERT). When another run
    changed the record after this run read it, Route53 refuses the whole batch (C(InvalidChangeBatch)) and nothing
    of it is applied; the module then reads the record again and, with O(retry_on_conflict=true), plans once more
    from the live record, or fails naming what is live.
  - After any failed or ambiguous C(ChangeResourceRecordSets) (botocore retries a timeout or a 5xx, and the retry
    of a batch that was applied is refused) the record is read back. When it matches the request the task
    succeeds with C(changed=true) and a warning; otherwise the failure says what is live.
  - With O(routing=weighted) each colour has its own weighted record set whose C(SetIdentifier) is the colour name;
    with O(idle_record=keep) the inactive colours keep a record set with weight V(0), ready for the next switch.
    With O(routing=simple) a single record points at the active colour's target.
  - Idempotent on values compared the way Route53 compares them. Alias DNS names compare without case and trailing
    dot only (a C(dualstack.) prefix is part of the name; an V(AAAA) alias to a load balancer needs it); hosted
    zone ids case-insensitively; values in any order. A re-run of the same switch reads the record, reports
    C(changed=false) and sends no change.
  - Everything is validated locally before any change is sent (weights 0-255 and not all zero, IPv4/IPv6 values,
    one name for a CNAME and none at the zone apex, no TTL with alias-only targets, record inside the zone and not
    in a subzone delegated by NS records, Route53's octal escapes, no C(evaluate_target_health) on a CloudFront
    alias and no CloudFront alias in a private zone, C(Comment) cut to 256 characters, ...).
  - Record sets in a shape the module does not manage (other routing policies, weighted sets whose
    C(SetIdentifier) is not a colour in O(targets), a CNAME where an A record is switched, a simple record whose
    answer is no colour's target unless O(force=true)) make it fail with the fix, and nothing is changed.
  - An existing C(HealthCheckId) of a colour's record set is kept, across a conversion between simple and weighted
    routing too.
  - B(Weight 0 is not "no traffic" under health checks.) When every record with a weight above 0 is unhealthy,
    Route53 answers with the zero-weight records. RV(idle_answerable) lists the idle colours for which that can
    happen; do not retire such a colour while its record is kept, or use O(idle_record=delete).
  - Needs the IAM permissions C(route53:ListHostedZonesByName) (or C(route53:GetHostedZone) with
    O(hosted_zone_id)), C(route53:ListResourceRecordSets), C(route53:ChangeResourceRecordSets) and, with
    O(wait=true), C(route53:GetChange). C(route53:ListHostedZones) is used only to suggest close zone names
    when the zone is not found.
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_route53
  - switchyard.bluegreen.aws
attributes:
  check_mode:
    support: full
    details:
      - Reads the zone and the record, predicts C(changed), C(weights) and the record sets, and sends no change.
  diff_mode:
    support: full
    details:
      - Shows the record sets before and after.
  idempotent:
    support: full
options:
  zone:
    description:
      - Name of the hosted zone that holds O(record), for example V(example.com).
      - Mutually exclusive with O(hosted_zone_id); one of the two is required.
    type: str
  hosted_zone_id:
    description:
      - Id of the hosted zone, with or without the C(/hostedzone/) prefix.
    type: str
  private_zone:
    description:
      - Look O(zone) up among private hosted zones instead of public ones. Ignored with O(hosted_zone_id).
    type: bool
    default: false
  record:
    description:
      - Fully qualified name of the record to switch, inside the zone, for example V(api.example.com).
      - A leading V(*) label is allowed for wildcard records.
    type: str
    required: true
  type:
    description:
      - Record type of the switched record.
    type: str
    required: true
    choices: [A, AAAA, CNAME]
  routing:
    description:
      - V(weighted) keeps one weighted record set per colour (C(SetIdentifier) = colour) and sets their weights.
      - V(simple) keeps one record that points at the O(active) colour's target.
      - Changing it converts the record in the same atomic batch.
    type: str
    choices: [weighted, simple]
    default: weighted
  targets:
    description:
      - Colour name to target. Colour names are 1-128 letters, digits, V(_), V(-) or V(.).
      - Each target has exactly one of C(alias) or C(values). No two colours may have the same target.
      - C(alias) is a dictionary with C(dns_name) (required), C(hosted_zone_id) (required, the zone id of the
        alias target, for example the canonical hosted zone id of a load balancer) and
        C(evaluate_target_health) (boolean, default V(false)).
      - C(values) is a list of IPv4 addresses for V(A), IPv6 addresses for V(AAAA), or exactly one host name for
        V(CNAME).
    type: dict
    required: true
  active:
    description:
      - The colour that takes all traffic. Must be a key of O(targets).
      - With O(routing=weighted) it gets weight V(100) and every other colour V(0); when it already is the only
        colour with a weight above zero, its current weight is kept.
      - Mutually exclusive with O(weights); one of the two is required.
    type: str
  weights:
    description:
      - Colour to Route53 weight (0-255) for O(routing=weighted); every colour of O(targets) needs one.
      - Weights are relative, V(0) is a real value (no traffic while another colour has weight). All zero is
        rejected because Route53 would then spread traffic over every colour.
    type: dict
  ttl:
    description:
      - TTL in seconds of record sets with C(values). Defaults to V(60) when a target has C(values).
      - Not allowed when every target is an alias (alias records take the TTL of their target).
    type: int
  idle_record:
    description:
      - What happens to the record set of a colour with weight V(0) under O(routing=weighted).
      - V(keep) keeps it with weight V(0), ready for the next switch. Route53 still answers with it when every
        record with a weight above 0 is unhealthy (see RV(idle_answerable)).
      - V(delete) deletes it, so Route53 can never answer with the idle colour; the next switch creates it again.
    type: str
    choices: [keep, delete]
    default: keep
  force:
    description:
      - Replace a simple record whose answer is the target of no colour in O(targets). Without it the module
        refuses and names the answer it would delete.
    type: bool
    default: false
  retry_on_conflict:
    description:
      - When Route53 refuses the guarded batch because another run changed the record after it was read, read it
        again and plan once more from the live record.
      - With V(false) the task fails, names the live state and changes nothing.
    type: bool
    default: true
  wait:
    description:
      - Wait until Route53 reports the change C(INSYNC) (all its name servers answer with it), using boto3's
        C(resource_record_sets_changed) waiter.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait for C(INSYNC), in seconds. The waiter polls C(GetChange) every
        C(min(10, max(1, wait_timeout // 30))) seconds.
      - On timeout the task fails with C(changed=true) and the C(change_id), because Route53 has accepted the
        batch and will apply it as a whole.
    type: int
    default: 300
notes:
  - C(INSYNC) means Route53's own servers answer with the new record. Resolvers may keep the old answer for the old
    record's TTL; RV(propagation) gives that TTL and the time after which every resolver should have the new one.
  - For a record that did not exist before, resolvers may also have cached the negative answer for the zone's SOA
    minimum TTL, which RV(propagation) does not include.
seealso:
  - module: switchyard.bluegreen.route53_switch_info
"""

EXAMPLES = r"""
- name: Send all traffic to green; blue is an ALB alias, green two addresses (weighted routing)
  switchyard.bluegreen.route53_switch:
    zone: example.com
    record: api.example.com
    type: A
    routing: weighted
    targets:
      blue:
        alias:
          dns_name: blue-lb-1.us-east-1.elb.amazonaws.com
          hosted_zone_id: Z35SXDOTRQ7X7K
          evaluate_target_health: true
      green:
        values: ["203.0.113.20", "203.0.113.21"]
    active: green
    ttl: 60
  register: switch

- name: Canary - shift 10 % of traffic to green, without waiting for INSYNC
  switchyard.bluegreen.route53_switch:
    hosted_zone_id: Z0123456789ABCDEFGHIJ
    record: api.example.com
    type: A
    targets:
      blue: {values: ["203.0.113.10"]}
      green: {values: ["203.0.113.20"]}
    weights: {blue: 90, green: 10}
    wait: false

- name: Simple routing - one CNAME that points at the active colour, in a private zone
  switchyard.bluegreen.route53_switch:
    zone: internal.example
    private_zone: true
    record: app.internal.example
    type: CNAME
    routing: simple
    targets:
      blue: {values: ["app-blue.internal.example"]}
      green: {values: ["app-green.internal.example"]}
    active: blue
    ttl: 30

- name: Alias routing to two load balancers, simple record at the zone apex
  switchyard.bluegreen.route53_switch:
    zone: example.com
    record: example.com
    type: A
    routing: simple
    targets:
      blue:
        alias: {dns_name: dualstack.blue-lb-1.us-east-1.elb.amazonaws.com, hosted_zone_id: Z35SXDOTRQ7X7K}
      green:
        alias: {dns_name: green-lb-2.us-east-1.elb.amazonaws.com, hosted_zone_id: Z35SXDOTRQ7X7K}
    active: green

- name: Against a local emulator (moto_server) with dummy credentials
  switchyard.bluegreen.route53_switch:
    zone: example.com
    record: api.example.com
    type: A
    targets:
      blue: {values: ["192.0.2.10"]}
      green: {values: ["192.0.2.20"]}
    active: green
    endpoint_url: http://127.0.0.1:5000
    access_key: testing
    secret_key: testing
"""

RETURN = r"""
active:
  description: Colour that takes all traffic after the switch; V(null) when weights split traffic.
  returned: success
  type: str
  sample: green
previous_active:
  description: Colour that took all traffic before; V(null) when split, absent or not one of O(targets).
  returned: success
  type: str
  sample: blue
weights:
  description: Route53 weight per colour after the switch; V(null) with O(routing=simple).
  returned: success
  type: dict
  sample: {blue: 0, green: 100}
previous_weights:
  description: Route53 weight per colour before; V(null) when the record was not weighted.
  returned: success
  type: dict
  sample: {blue: 100, green: 0}
routing:
  description: Routing after the switch.
  returned: success
  type: str
  sample: weighted
previous_routing:
  description: Routing before the switch, V(weighted), V(simple) or V(absent).
  returned: success
  type: str
  sample: simple
zone:
  description: The hosted zone used.
  returned: success
  type: dict
  contains:
    id:
      description: Hosted zone id without prefix.
      type: str
      sample: Z0123456789ABCDEFGHIJ
    name:
      description: Zone name with trailing dot.
      type: str
      sample: example.com.
    private:
      description: Whether the zone is private.
      type: bool
      sample: false
record:
  description: The record's name with trailing dot.
  returned: success
  type: str
  sample: api.example.com.
type:
  description: Record type.
  returned: success
  type: str
  sample: A
change_id:
  description: Id of the Route53 change; V(null) when no change was sent (no change needed or check mode).
  returned: success
  type: str
  sample: C2682N5HXP0BZ4
status:
  description:
    - V(PENDING) or V(INSYNC) for a sent change (V(INSYNC) after a successful wait).
    - V(null) when no change was sent.
  returned: success
  type: str
  sample: INSYNC
submitted_at:
  description: When Route53 accepted the change (ISO 8601, UTC); V(null) when none was sent.
  returned: success
  type: str
  sample: "2026-01-01T12:00:00Z"
record_sets_before:
  description: The record sets of this name and type before the switch.
  returned: success
  type: list
  elements: dict
  sample: [{name: api.example.com., type: A, set_identifier: blue, weight: 100, ttl: 60, values: ["203.0.113.10"],
            alias: null, health_check_id: null}]
record_sets_after:
  description:
    - The record sets after the switch (as written; predicted in check mode).
    - Same shape as RV(record_sets_before).
  returned: success
  type: list
  elements: dict
change_batch:
  description:
    - The C(ChangeBatch) sent (or that would be sent in check mode), in AWS API form.
    - C(Changes) is empty when nothing needs changing.
  returned: success
  type: dict
  sample: {Comment: "switchyard.bluegreen.route53_switch: api.example.com A weighted blue=0, green=100", Changes: []}
diff:
  description: Record sets before and after.
  returned: success
  type: dict
propagation:
  description: How long resolvers may still give the old answer.
  returned: success
  type: dict
  contains:
    ttl:
      description: Largest TTL of the replaced record sets in seconds (V(60) for alias records); V(0) without change.
      type: int
      sample: 60
    settled_at:
      description:
        - Time (ISO 8601, UTC) after which every resolver should have the new answer, that is the
          RV(propagation.based_on) time plus RV(propagation.ttl).
        - V(null) when no change was sent.
      type: str
      sample: "2026-01-01T12:01:00Z"
    based_on:
      description: V(insync) (the time INSYNC was seen), V(submitted) (not waited, so a lower bound),
        V(read_back) (the answer was ambiguous and the record was read back; the change id is unknown),
        V(check_mode) or V(unchanged).
      type: str
      sample: insync
idle_answerable:
  description:
    - Colours with weight V(0) whose record set Route53 can still answer with after the switch, because every
      record with a weight above 0 has a health check or evaluates its alias target's health (Route53 then answers
      with the zero-weight records when all of those are unhealthy).
    - Empty when no live record can turn unhealthy, with O(idle_record=delete), or with O(routing=simple).
    - A colour listed here must not be stopped or retired while its record set exists.
  returned: success
  type: list
  elements: str
  sample: [blue]
api_calls:
  description: Route53 API calls this task made.
  returned: always
  type: dict
  contains:
    total:
      description: API operations called (a retried call counts once).
      type: int
      sample: 3
    http_requests:
      description: HTTP requests sent, retries included.
      type: int
      sample: 3
    by_operation:
      description: Calls per API operation.
      type: dict
      sample: {ListHostedZonesByName: 1, ListResourceRecordSets: 1, ChangeResourceRecordSets: 1}
"""

from ansible_collections.switchyard.bluegreen.plugins.module_utils._aws.module import (  # noqa: E402
    aws_module,
    run_aws_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.spec import (  # noqa: E402
    ZONE_MUTUALLY_EXCLUSIVE,
    ZONE_REQUIRED_ONE_OF,
    record_argument_spec,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.switch import switch  # noqa: E402


def main():
    argument_spec = record_argument_spec()
    argument_spec.update({
        "routing": {"type": "str", "choices": ["weighted", "simple"], "default": "weighted"},
        "targets": {"type": "dict", "required": True},
        "active": {"type": "str"},
        "weights": {"type": "dict"},
        "ttl": {"type": "int"},
        "idle_record": {"type": "str", "choices": ["keep", "delete"], "default": "keep"},
        "force": {"type": "bool", "default": False},
        "retry_on_conflict": {"type": "bool", "default": True},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 300},
    })
    module = aws_module(
        argument_spec,
        mutually_exclusive=[*ZONE_MUTUALLY_EXCLUSIVE, ["active", "weights"]],
        required_one_of=[*ZONE_REQUIRED_ONE_OF, ["active", "weights"]],
        required_if=[["routing", "simple", ["active"]]],
    )
    run_aws_module(module, "route53",
                   lambda make_client: switch(make_client("route53"), module.params, check_mode=module.check_mode))


if __name__ == "__main__":
    main()
