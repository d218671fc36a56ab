#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: route53_switch_info
short_description: Report which colour a Route53 blue/green record points at
version_added: 0.1.0
description:
  - Reads the record sets of one Route53 record (type V(A), V(AAAA) or V(CNAME)) and reports its routing, the
    weight of each colour and the active colour, the way M(switchyard.bluegreen.route53_switch) sees them.
    Never changes anything.
  - For weighted records the colours are the C(SetIdentifier)s. For a simple record, give O(targets) to learn
    which colour it points at.
  - A shape M(switchyard.bluegreen.route53_switch) would refuse is reported with RV(managed=false) and
    RV(problem) instead of failing.
  - Needs C(route53:ListHostedZonesByName) (or C(route53:GetHostedZone)) and C(route53:ListResourceRecordSets).
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_route53
  - switchyard.bluegreen.attributes.info_module
  - switchyard.bluegreen.aws
options:
  zone:
    description:
      - Name of the hosted zone that holds O(record). Mutually exclusive with O(hosted_zone_id); one is required.
    type: str
  hosted_zone_id:
    description:
      - Id of the hosted zone, with or without the C(/hostedzone/) prefix.
    type: str
  private_zone:
    description:
      - Look O(zone) up among private hosted zones. Ignored with O(hosted_zone_id).
    type: bool
    default: false
  record:
    description:
      - Fully qualified name of the record.
    type: str
    required: true
  type:
    description:
      - Record type.
    type: str
    required: true
    choices: [A, AAAA, CNAME]
  targets:
    description:
      - Colour to target, as for M(switchyard.bluegreen.route53_switch). Only used to tell which colour a
        simple record points at (and to flag weighted sets whose C(SetIdentifier) is not one of them).
    type: dict
seealso:
  - module: switchyard.bluegreen.route53_switch
"""

EXAMPLES = r"""
- name: Which colour is live?
  switchyard.bluegreen.route53_switch_info:
    zone: example.com
    record: api.example.com
    type: A
  register: dns

- name: Show it
  ansible.builtin.debug:
    msg: "{{ dns.active }} is live, weights {{ dns.weights }}"

- name: A simple record needs the targets to name the colour
  switchyard.bluegreen.route53_switch_info:
    zone: example.com
    record: app.example.com
    type: CNAME
    targets:
      blue: {values: ["app-blue.example.com"]}
      green: {values: ["app-green.example.com"]}
"""

RETURN = r"""
routing:
  description: V(weighted), V(simple), V(absent) (no record set of that name and type) or V(unmanaged).
  returned: success
  type: str
  sample: weighted
managed:
  description: Whether route53_switch can manage the record in its current shape.
  returned: success
  type: bool
  sample: true
problem:
  description: Why the record is not manageable; V(null) when it is.
  returned: success
  type: str
  sample: null
active:
  description: The colour that takes all traffic; V(null) when weights split traffic, the record is absent, or a
    simple record matches none of O(targets).
  returned: success
  type: str
  sample: green
weights:
  description: Route53 weight per colour (C(SetIdentifier)) for weighted records; V(null) otherwise.
  returned: success
  type: dict
  sample: {blue: 0, green: 100}
colours:
  description: Colours present in the record (weighted), or the active one (simple).
  returned: success
  type: list
  elements: str
  sample: [blue, green]
record_sets:
  description: The record sets of this name and type, normalised to snake_case.
  returned: success
  type: list
  elements: dict
  sample: [{name: api.example.com., type: A, set_identifier: green, weight: 100, ttl: 60, values: ["203.0.113.20"],
            alias: null, health_check_id: null}]
zone:
  description: The hosted zone (C(id), C(name), C(private)).
  returned: success
  type: dict
  sample: {id: Z0123456789ABCDEFGHIJ, name: example.com., private: false}
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
idle_answerable:
  description:
    - Colours with weight V(0) whose record set Route53 can still answer with, because every record with a weight
      above 0 has a health check or evaluates its alias target's health. Such a colour must not be retired while
      its record set exists (see O(switchyard.bluegreen.route53_switch#module:idle_record) of
      M(switchyard.bluegreen.route53_switch)).
  returned: success
  type: list
  elements: str
  sample: [blue]
api_calls:
  description: Route53 API calls made (C(total), C(http_requests), C(by_operation)).
  returned: always
  type: dict
  sample: {total: 2, http_requests: 2, by_operation: {ListHostedZonesByName: 1, ListResourceRecordSets: 1}}
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
from ansible_collections.switchyard.bluegreen.plugins.module_utils._route53.switch import info  # noqa: E402


def main():
    argument_spec = record_argument_spec()
    argument_spec["targets"] = {"type": "dict"}
    module = aws_module(argument_spec, mutually_exclusive=ZONE_MUTUALLY_EXCLUSIVE, required_one_of=ZONE_REQUIRED_ONE_OF)
    run_aws_module(module, "route53", lambda make_client: info(make_client("route53"), module.params))


if __name__ == "__main__":
    main()
