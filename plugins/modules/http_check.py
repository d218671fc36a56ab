#!/usr/bin/python
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_check
short_description: Send a burst of HTTP requests and judge errors, latency and which colour answered
version_added: 0.1.0
description:
  - Sends O(requests) HTTP(S) requests from the managed host, O(concurrency) at a time, spread round robin over
    O(url) or O(urls), and checks every answer against O(expect_status), O(expect_body) and O(expect_headers).
  - Counts failures by kind (connection, timeout, tls, protocol, status, body, header, error), computes latency
    percentiles, tallies the values of one response header (O(count_header)), and fails the task with a one-line
    summary when a threshold is missed (O(max_error_rate), O(max_latency_p95_ms), O(max_latency_p99_ms),
    O(expect_header_share)), unless O(fail_on_threshold=false).
  - Meant as a smoke test before a blue-green switch and as the verification after it.
  - Optionally first waits, retrying, until the target gives any HTTP answer at all (O(ready_timeout)).
  - Every request uses its own connection (no keep-alive), so each one also tests connection setup, and requests
    spread over the workers of a proxy the way new clients are.
  - Runs with the Python standard library and ansible-core only; nothing to install on the managed host.
  - The module only reads. It never reports a change, and it sends its requests in check mode too.
  - "Time is bounded: the whole task takes at most about O(ready_timeout) + ceil(O(requests) / O(concurrency)) *
    (O(timeout) + O(interval_ms) / 1000) + 1 second. Requests still without an answer at that point count as timeouts."
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup
attributes:
  action:
    description:
      - Indicates this has a corresponding action plugin, so some parts of the options can run on the controller.
    support: full
    details:
      - When the task's host is the controller itself (connection C(local) without become, for example
        C(delegate_to=localhost)), the check runs in Ansible's worker process on the controller with the same code,
        without starting a module (about a quarter to half a second less per task). Anywhere else the module runs on
        the managed host.
  check_mode:
    support: full
    details:
      - The requests are sent in check mode too, because they are what is being checked. Use a read-only
        O(method) (C(GET) or C(HEAD)) if the endpoint must not be touched in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Always returns C(changed=false).
options:
  url:
    description:
      - The absolute C(http://) or C(https://) URL to request.
      - Exactly one of O(url) and O(urls) is required.
    type: str
  urls:
    description:
      - Several URLs; request number N goes to C(urls[N % len(urls)]), so the requests are spread evenly.
      - Use it to check every backend of a colour in one task.
    type: list
    elements: str
  requests:
    description:
      - How many requests to send after the target is ready (1 to 100000).
    type: int
    default: 10
  concurrency:
    description:
      - How many requests are in flight at the same time (1 to 256; capped at O(requests)).
    type: int
    default: 1
  timeout:
    description:
      - Seconds one request may take, from connect to the last byte of the body.
      - A request that answers later than this counts as a C(timeout) failure.
    type: float
    default: 5
  interval_ms:
    description:
      - Pause in milliseconds each worker takes between two of its requests, to spread a burst over time.
    type: float
    default: 0
  ready_timeout:
    description:
      - Before the burst, wait up to this many seconds, retrying every 0.25 seconds, until every URL gives any HTTP
        answer (any status, or a TLS handshake). V(0) skips the wait.
      - If a URL never answers, the task fails naming the URL and the last error, whatever O(fail_on_threshold) says.
    type: float
    default: 0
  method:
    description:
      - The HTTP method.
    type: str
    default: GET
  body:
    description:
      - Request body to send (for example with O(method=POST)), as a string encoded in UTF-8.
      - Set a C(Content-Type) in O(headers) if the server needs one.
    type: str
  headers:
    description:
      - Request headers, for example C(Host) to reach a virtual host through a load balancer address.
    type: dict
    default: {}
  expect_status:
    description:
      - Status codes that count as success. Any other status is a C(status) failure.
    type: list
    elements: int
    default: [200]
  expect_body:
    description:
      - Python regular expression searched for (C(re.search)) in the first MiB of the body, decoded as UTF-8.
        A body without a match is a C(body) failure.
    type: str
  expect_headers:
    description:
      - "Response headers that must be present with these values, for example C({X-App-Version: 2.4.1}).
        Header names are case-insensitive."
      - Compared as set by O(header_match). A missing or different header is a C(header) failure.
    type: dict
    default: {}
  header_match:
    description:
      - How the values in O(expect_headers) are compared.
      - V(exact) compares the whole value as a string.
      - V(regex) treats each value as a Python regular expression searched for in the header (anchor it with
        C(^...$) for a whole-value match).
    type: str
    choices: [exact, regex]
    default: exact
  count_header:
    description:
      - Name of a response header whose values are tallied in RV(header_counts), for example C(X-App-Color).
      - Every HTTP answer counts, whatever its status; an answer without the header counts as C((missing)).
    type: str
  expect_header_share:
    description:
      - Fail unless at least O(expect_header_share.min) of the HTTP answers carry O(count_header) with the value
        O(expect_header_share.value). Requires O(count_header).
      - The share is taken over answers, not requests; requests without an answer are judged by O(max_error_rate).
      - "Use it after a switch, for example C({value: green, min: 0.95})."
    type: dict
    suboptions:
      value:
        description: The header value that must answer.
        type: str
        required: true
      min:
        description: The lowest acceptable share, a fraction from 0 to 1.
        type: float
        required: true
  max_error_rate:
    description:
      - Highest acceptable fraction of failed requests, from 0 to 1 (V(0.01) is 1 %). Failures of every kind count.
    type: float
    default: 0.0
  max_latency_p95_ms:
    description:
      - Fail when the 95th percentile of the latency is above this many milliseconds.
      - Percentiles use the nearest-rank method over all complete HTTP answers; see RV(latency_ms).
    type: float
  max_latency_p99_ms:
    description:
      - Fail when the 99th percentile of the latency is above this many milliseconds.
    type: float
  fail_on_threshold:
    description:
      - When V(true), the task fails with RV(summary) as message if a threshold is missed.
      - When V(false), the task succeeds and reports RV(passed=false); use it to gather numbers or decide later.
    type: bool
    default: true
  max_failure_samples:
    description:
      - How many failed requests to return in RV(failure_samples) (one of each failure kind first).
    type: int
    default: 5
  validate_certs:
    description:
      - Verify the server's TLS certificate. V(false) only for self-signed test targets.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificates to trust for HTTPS.
    type: path
  client_cert:
    description:
      - PEM file with a client certificate (and key, if O(client_key) is not given) for mutual TLS.
    type: path
  client_key:
    description:
      - PEM file with the private key for O(client_cert).
    type: path
  use_proxy:
    description:
      - Use the proxy from the environment (C(http_proxy), C(https_proxy), honouring C(no_proxy)).
    type: bool
    default: true
  url_username:
    description:
      - User name for HTTP basic authentication.
    type: str
  url_password:
    description:
      - Password for HTTP basic authentication. Never logged.
    type: str
  force_basic_auth:
    description:
      - Send the basic authentication header with the first request instead of waiting for a 401 challenge.
    type: bool
    default: false
  follow_redirects:
    description:
      - V(none) judges a redirect as the answer it is (its status must be in O(expect_status)).
      - V(safe) follows redirects of GET and HEAD requests; V(all) follows every redirect.
    type: str
    choices: [none, safe, all]
    default: none
  http_agent:
    description:
      - The User-Agent header sent with each request.
    type: str
    default: switchyard-http-check
notes:
  - Latency is the wall time of one request from before connecting to after the last byte of the body.
  - Percentiles are nearest-rank; p95 is the smallest measured latency that at least 95 % of the answers do not
    exceed. With fewer than 20 answers, p95 is the maximum.
seealso:
  - module: ansible.builtin.uri
  - module: switchyard.bluegreen.nginx_upstream
"""

EXAMPLES = r"""
- name: Smoke test the new colour directly, before any traffic is switched to it
  switchyard.bluegreen.http_check:
    urls:
      - http://10.0.1.21:8080/healthz
      - http://10.0.1.22:8080/healthz
    ready_timeout: 60
    requests: 50
    concurrency: 5
    timeout: 2
    expect_status: [200]
    expect_body: '"status": *"ok"'
    expect_headers:
      X-App-Version: 2.4.1
    max_error_rate: 0.0
    max_latency_p95_ms: 300

- name: Verify after the switch that the public address answers from green
  switchyard.bluegreen.http_check:
    url: https://lb.example.com/healthz
    headers:
      Host: shop.example.com
    requests: 200
    concurrency: 10
    timeout: 2
    count_header: X-App-Color
    expect_header_share:
      value: green
      min: 0.95
    max_error_rate: 0.01
    max_latency_p95_ms: 300
    max_latency_p99_ms: 800

- name: Measure only; decide in a later task
  switchyard.bluegreen.http_check:
    url: http://10.0.1.11:8080/healthz
    requests: 100
    concurrency: 10
    count_header: X-App-Version
    fail_on_threshold: false
  register: before_switch

- name: Show the one-line summary
  ansible.builtin.debug:
    msg: "{{ before_switch.summary }} (versions: {{ before_switch.header_counts }})"

- name: POST to a readiness endpoint with basic authentication, regex on a header
  switchyard.bluegreen.http_check:
    url: https://10.0.1.21:8443/api/ping
    method: POST
    body: '{"probe": true}'
    headers:
      Content-Type: application/json
    url_username: checker
    url_password: "{{ vault_checker_password }}"
    force_basic_auth: true
    ca_path: /etc/ssl/internal-ca.pem
    expect_status: [200, 202]
    header_match: regex
    expect_headers:
      X-App-Version: '^2\.4\.'
    requests: 20
    interval_ms: 100
"""

RETURN = r"""
passed:
  description: Whether every threshold held.
  type: bool
  returned: always
  sample: true
summary:
  description: One line for the job log; also the failure message when a threshold is missed.
  type: str
  returned: always
  sample: "http_check PASSED: 50/50 ok; latency ms p50 1.9 p95 3.1 p99 4.4 max 4.4; status 200=50; X-App-Color green=50;
    http://10.0.1.11:8080/healthz"
thresholds_missed:
  description: One entry per missed threshold (empty when RV(passed)).
  type: list
  elements: str
  returned: when the burst ran
  sample: ["error rate 10% > 0%", "p95 latency 512.3 ms > 300 ms"]
requests:
  description: Requests sent in the burst (not counting readiness probes).
  type: int
  returned: when the burst ran
  sample: 50
successes:
  description: Requests that met every expectation.
  type: int
  returned: when the burst ran
  sample: 50
failures:
  description: Requests that failed, of any kind.
  type: int
  returned: when the burst ran
  sample: 0
error_rate:
  description: RV(failures) / RV(requests).
  type: float
  returned: when the burst ran
  sample: 0.0
failure_kinds:
  description:
    - Failures per kind. C(connection) (refused, reset, DNS), C(timeout), C(tls) (handshake or certificate),
      C(protocol) (not a valid HTTP answer), C(status), C(body), C(header), C(error) (anything else).
    - Only kinds that occurred are listed.
  type: dict
  returned: when the burst ran
  sample: {"status": 5, "timeout": 1}
status_codes:
  description: Count per HTTP status code received (string keys).
  type: dict
  returned: when the burst ran
  sample: {"200": 45, "500": 5}
latency_ms:
  description:
    - Latency of the complete HTTP answers (any status) in milliseconds; C(null) values when there were none.
    - Percentiles are nearest-rank (always a measured value).
  type: dict
  returned: when the burst ran
  contains:
    count:
      description: Number of answers measured.
      type: int
    min:
      description: Fastest answer.
      type: float
    p50:
      description: Median (nearest rank).
      type: float
    p95:
      description: 95th percentile (nearest rank).
      type: float
    p99:
      description: 99th percentile (nearest rank).
      type: float
    max:
      description: Slowest answer.
      type: float
    mean:
      description: Arithmetic mean.
      type: float
  sample: {"count": 50, "min": 1.2, "p50": 1.9, "p95": 3.1, "p99": 4.4, "max": 4.4, "mean": 2.0}
header_counts:
  description: Count per value of O(count_header) over all HTTP answers; empty without O(count_header).
  type: dict
  returned: when the burst ran
  sample: {"blue": 26, "green": 24}
header_share:
  description: The share of O(expect_header_share.value) among the answers.
  type: dict
  returned: when O(expect_header_share) is set and the burst ran
  contains:
    value:
      description: The value counted.
      type: str
    count:
      description: Answers with that value.
      type: int
    answers:
      description: All HTTP answers.
      type: int
    share:
      description: RV(header_share.count) / RV(header_share.answers).
      type: float
    min:
      description: The required share.
      type: float
  sample: {"value": "green", "count": 48, "answers": 50, "share": 0.96, "min": 0.95}
failure_samples:
  description: A few failed requests with the reason, one of each kind first.
  type: list
  elements: dict
  returned: when the burst ran
  contains:
    url:
      description: The URL requested.
      type: str
    kind:
      description: The failure kind (see RV(failure_kinds)).
      type: str
    reason:
      description: What went wrong, in words.
      type: str
    status:
      description: The HTTP status, or C(null) when there was no HTTP answer.
      type: int
    latency_ms:
      description: Latency of the answer, or C(null) when there was none.
      type: float
  sample: [{"url": "http://10.0.1.11:8080/healthz", "kind": "status", "reason": "status 500, expected 200",
            "status": 500, "latency_ms": 2.1}]
ready_ms:
  description: Milliseconds the readiness wait took; C(null) when O(ready_timeout=0).
  type: float
  returned: always
  sample: 1250.4
ready_attempts:
  description: Readiness probes sent.
  type: int
  returned: when O(ready_timeout) is above 0
  sample: 6
elapsed_ms:
  description: Wall time of the whole check, readiness wait included.
  type: float
  returned: always
  sample: 812.7
urls:
  description: The URLs checked.
  type: list
  elements: str
  returned: always
  sample: ["http://10.0.1.11:8080/healthz"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules document first

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (  # noqa: E402
    SwitchyardError,
    fail_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._http.burst import (  # noqa: E402
    make_opener,
    run_check,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._http.spec import (  # noqa: E402
    MODULE_RULES,
    CheckSpec,
    argument_spec,
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **MODULE_RULES)

    try:
        spec = CheckSpec(module.params)
        opener = make_opener(spec)
    except SwitchyardError as exc:
        fail_module(module, exc, changed=False)

    ran, result = run_check(spec, opener)
    result["changed"] = False
    if not ran or (not result["passed"] and module.params["fail_on_threshold"]):
        module.fail_json(msg=result["summary"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
