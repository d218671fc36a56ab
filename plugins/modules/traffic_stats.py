#!/usr/bin/python
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: traffic_stats
short_description: Measure per-colour traffic at the router for a time window and judge the new colour
version_added: 0.2.0
description:
  - Measures what real users got from each colour during the next O(window) seconds, read from the router
    itself, and returns per colour the requests, 5xx answers, answers without an upstream reply (502, 504, failed
    connections), the error rate and the latency percentiles p50, p95 and p99.
  - "nginx: reads the access log written with the C(switchyard_bluegreen) log_format (the nginx role's
    C(nginx_traffic_log) option writes it; see docs/traffic_stats.md). Every line of the window counts; the colour
    is the backend's C(X-App-Color) header, or the pool (O(pools)) holding the upstream that answered."
  - "HAProxy: reads the per-server counters of C(show stat) over the admin socket at the start and the end of
    the window and returns the differences. HAProxy keeps no per-request latencies: the percentiles are
    C(null) and C(latency_avg_ms) is HAProxy's moving average response time."
  - With O(target), also returns a verdict for the new colour, compared with O(previous) in the same window, so
    the verdict is about the release and not about the day's traffic. C(pass), C(fail) or C(inconclusive)
    (fewer than O(min_requests) requests reached the target). The module never fails on a verdict; the caller
    decides (the switch role aborts a progressive switch on C(fail)).
  - The module only reads. It waits O(window) seconds, in check mode too.
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so check mode measures the same way.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Always returns C(changed=false).
options:
  router:
    description:
      - Where the traffic is read.
    type: str
    required: true
    choices: [nginx, haproxy]
  access_log:
    description:
      - The nginx access log written with the C(switchyard_bluegreen) log_format.
      - Required with O(router=nginx).
    type: path
  admin_socket:
    description:
      - HAProxy's admin socket (C(stats socket ... level admin)).
      - Required with O(router=haproxy).
    type: path
  name:
    description:
      - The application. nginx counts only the log lines of this upstream (C($proxy_host)); HAProxy reads this
        backend's servers (named C(<color>-<n>)).
      - Required with O(router=haproxy).
    type: str
  pools:
    description:
      - Colour to server addresses (C(host:port)), to find the colour of a log line whose backend sent no
        C(X-App-Color) header. Lines of unknown colour count under C(unknown).
    type: dict
    default: {}
  window:
    description:
      - Seconds to measure, from the start of the task. 0 reads nothing (every count is 0).
    type: float
    default: 30
  target:
    description:
      - The new colour to judge. Without it, no verdict is returned.
    type: str
  previous:
    description:
      - The old colour; its rates in the same window are the baseline of the verdict.
    type: str
  max_error_rate:
    description:
      - The largest error rate (a fraction, 0.01 for 1 %) the target may have above O(previous)'s. O(previous)'s rate
        counts only when it had O(min_requests) requests itself, otherwise it is taken as 0.
    type: float
    default: 0.01
  max_latency_p95_ms:
    description:
      - The target fails when its p95 is above this and above O(previous)'s p95. Unset or 0 disables.
      - HAProxy gives no percentiles, so this threshold is not checked there.
    type: float
  min_requests:
    description:
      - The fewest requests the target must get in the window for a C(pass) or C(fail); fewer give C(inconclusive).
    type: int
    default: 20
  timeout:
    description:
      - Seconds to wait for HAProxy's admin socket.
    type: float
    default: 5
notes:
  - docs/traffic_stats.md describes the log format, the counters and the verdict.
seealso:
  - module: switchyard.bluegreen.http_check
"""

EXAMPLES = r"""
- name: Measure 60 s of traffic at nginx and judge green against blue
  switchyard.bluegreen.traffic_stats:
    router: nginx
    access_log: /var/log/nginx/bluegreen_traffic.log
    name: shop
    pools: "{{ bluegreen_pools }}"
    window: 60
    target: green
    previous: blue
    max_error_rate: 0.01
    max_latency_p95_ms: 500
    min_requests: 50
  register: traffic

- name: Measure 30 s at HAProxy
  switchyard.bluegreen.traffic_stats:
    router: haproxy
    admin_socket: /run/haproxy/admin.sock
    name: shop
    window: 30
    target: green
    previous: blue
"""

RETURN = r"""
colors:
  description:
    - Colour to its figures over the window. A colour without requests is missing.
  type: dict
  returned: always
  sample: {"green": {"requests": 120, "errors": 12, "errors_5xx": 12, "no_answer": 0, "error_rate": 0.1,
                     "p50_ms": 2.0, "p95_ms": 5.0, "p99_ms": 9.0, "latency_avg_ms": 2.6}}
verdict:
  description: The verdict for O(target); C(null) without O(target).
  type: dict
  returned: always
  contains:
    verdict:
      description: C(pass), C(fail) or C(inconclusive).
      type: str
    reasons:
      description: Why it failed or is inconclusive, one sentence per breach.
      type: list
      elements: str
    target:
      description: O(target).
      type: str
    previous:
      description: O(previous).
      type: str
    excess_error_rate:
      description: The target's error rate minus the baseline (O(previous)'s rate, or 0).
      type: float
    thresholds:
      description: O(max_error_rate), O(max_latency_p95_ms) and O(min_requests) as used.
      type: dict
  sample: {"verdict": "fail", "reasons": ["green error rate 10.0 % is 10.0 % above blue's 0.0 %, more than
           max_error_rate 1.0 %"], "target": "green", "previous": "blue", "excess_error_rate": 0.1,
           "thresholds": {"max_error_rate": 0.01, "max_latency_p95_ms": null, "min_requests": 20}}
summary:
  description: One line with every colour's figures and the verdict.
  type: str
  returned: always
  sample: "green 120 req, 10.0 % errors (5xx 12, no answer 0), p95 5 ms; blue 1080 req, 0.0 % errors ...: fail"
started_at:
  description: Epoch seconds at which the window started.
  type: float
  returned: always
ended_at:
  description: Epoch seconds at which the window ended.
  type: float
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules document first

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (  # noqa: E402
    SwitchyardError,
    fail_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._traffic.measure import (  # noqa: E402
    MODULE_RULES,
    argument_spec,
    measure,
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **MODULE_RULES)
    try:
        result = measure(module.params)
    except SwitchyardError as exc:
        fail_module(module, exc, changed=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
