# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""http_check's options: the argument spec and ``CheckSpec``, the validated settings of one check.

Errors are ``HttpCheckError`` (an ``InputError``) naming the option and what to do; nothing
has been sent then.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import InputError

MAX_CONCURRENCY = 256
MAX_REQUESTS = 100000
# Slack on top of the computed time budget of the burst (thread start, scheduling).
BUDGET_GRACE_S = 1.0
HEADER_MATCH_MODES = ("exact", "regex")
FOLLOW_REDIRECTS = ("none", "safe", "all")
DEFAULT_HTTP_AGENT = "switchyard-http-check"


def argument_spec():
    """http_check's argument spec (its rules are in MODULE_RULES)."""
    return {
        "url": {"type": "str"},
        "urls": {"type": "list", "elements": "str"},
        "requests": {"type": "int", "default": 10},
        "concurrency": {"type": "int", "default": 1},
        "timeout": {"type": "float", "default": 5},
        "interval_ms": {"type": "float", "default": 0},
        "ready_timeout": {"type": "float", "default": 0},
        "method": {"type": "str", "default": "GET"},
        "body": {"type": "str"},
        "headers": {"type": "dict", "default": {}},
        "expect_status": {"type": "list", "elements": "int", "default": [200]},
        "expect_body": {"type": "str"},
        "expect_headers": {"type": "dict", "default": {}},
        "header_match": {"type": "str", "choices": list(HEADER_MATCH_MODES), "default": "exact"},
        "count_header": {"type": "str"},
        "expect_header_share": {
            "type": "dict",
            "options": {
                "value": {"type": "str", "required": True},
                "min": {"type": "float", "required": True},
            },
        },
        "max_error_rate": {"type": "float", "default": 0.0},
        "max_latency_p95_ms": {"type": "float"},
        "max_latency_p99_ms": {"type": "float"},
        "fail_on_threshold": {"type": "bool", "default": True},
        "max_failure_samples": {"type": "int", "default": 5},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path"},
        "use_proxy": {"type": "bool", "default": True},
        "url_username": {"type": "str"},
        "url_password": {"type": "str", "no_log": True},
        "force_basic_auth": {"type": "bool", "default": False},
        "follow_redirects": {"type": "str", "choices": list(FOLLOW_REDIRECTS), "default": "none"},
        "http_agent": {"type": "str", "default": DEFAULT_HTTP_AGENT},
    }


# The AnsibleModule keyword arguments that go with argument_spec().
MODULE_RULES = {
    "mutually_exclusive": [("url", "urls")],
    "required_one_of": [("url", "urls")],
    "required_by": {"expect_header_share": "count_header"},
}


class HttpCheckError(InputError):
    """Bad input: the message names the option and what to do about it."""


def validate_url(url, option="url"):
    """Return url if it is an absolute http(s) URL with a host and a valid port; else raise."""
    if not isinstance(url, str) or not url.strip():
        raise HttpCheckError(f"{option}: an empty URL was given; use an absolute URL like http://10.0.1.11:8080/healthz")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HttpCheckError(
            f"{option}: {url!r} is not an http:// or https:// URL; give the scheme, host and path, for example "
            "http://10.0.1.11:8080/healthz"
        )
    try:
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise HttpCheckError(f"{option}: {url!r} has an invalid port ({exc}); use a number from 1 to 65535") from None
    if not host:
        raise HttpCheckError(f"{option}: {url!r} has no host; write it as {parts.scheme}://HOST[:PORT]/PATH")
    if port is not None and not 1 <= port <= 65535:
        raise HttpCheckError(f"{option}: {url!r} has port {port}; use a number from 1 to 65535")
    if any(ch.isspace() for ch in url):
        raise HttpCheckError(f"{option}: {url!r} contains whitespace; percent-encode it (%20)")
    return url


def _compile(pattern, option):
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise HttpCheckError(f"{option}: {pattern!r} is not a valid Python regular expression ({exc})") from None


class CheckSpec:
    """Validated settings of one check (built from the module's parameters)."""

    def __init__(self, params):
        self._parse_targets(params)
        self._parse_request(params)
        self._parse_expectations(params)
        self._parse_thresholds(params)

    def _parse_targets(self, params):
        urls = params.get("urls") or ([params["url"]] if params.get("url") else [])
        if not urls:
            raise HttpCheckError("url or urls: give the URL to check, for example url: http://10.0.1.11:8080/healthz")
        option = "urls" if params.get("urls") else "url"
        self.urls = [validate_url(u, option) for u in urls]
        self.requests = _int_in_range(params, "requests", 1, MAX_REQUESTS)
        # More threads than requests would only idle.
        self.concurrency = min(_int_in_range(params, "concurrency", 1, MAX_CONCURRENCY), self.requests)
        self.timeout = _positive(params, "timeout")
        self.ready_timeout = _not_negative(params, "ready_timeout")
        self.interval_s = _not_negative(params, "interval_ms") / 1000.0

    def _parse_request(self, params):
        self.method = (params.get("method") or "GET").upper()
        if not re.match(r"^[A-Z]+$", self.method):
            raise HttpCheckError(f"method: {params.get('method')!r} is not an HTTP method; use GET, HEAD, POST, ...")
        body = params.get("body")
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        self.open_url_args = {
            "validate_certs": params.get("validate_certs", True),
            "use_proxy": params.get("use_proxy", True),
            "url_username": params.get("url_username"),
            "url_password": params.get("url_password"),
            "force_basic_auth": bool(params.get("force_basic_auth")),
            "follow_redirects": params.get("follow_redirects") or "none",
            "http_agent": params.get("http_agent") or DEFAULT_HTTP_AGENT,
            "client_cert": params.get("client_cert"),
            "client_key": params.get("client_key"),
            "ca_path": params.get("ca_path"),
            # A check must behave the same for every user; ~/.netrc would add hidden credentials.
            "use_netrc": False,
        }

    def _parse_expectations(self, params):
        self.expect_status = [int(s) for s in (params.get("expect_status") or [200])]
        for status in self.expect_status:
            if not 100 <= status <= 599:
                raise HttpCheckError(f"expect_status: {status} is not an HTTP status code (100-599)")
        self.expect_body = _compile(params["expect_body"], "expect_body") if params.get("expect_body") else None
        self.header_match = params.get("header_match") or "exact"
        if self.header_match not in HEADER_MATCH_MODES:
            raise HttpCheckError(f"header_match: use exact or regex, got {self.header_match!r}")
        self.expect_headers = []
        for name, raw in (params.get("expect_headers") or {}).items():
            expected = str(raw)
            matcher = _compile(expected, f"expect_headers.{name}") if self.header_match == "regex" else None
            self.expect_headers.append((str(name), expected, matcher))
        self.count_header = params.get("count_header") or None

    def _parse_thresholds(self, params):
        self.max_error_rate = _fraction(params, "max_error_rate", 0.0)
        self.max_latency_ms = {}
        for pct in (95, 99):
            key = f"max_latency_p{pct}_ms"
            if params.get(key) is not None:
                self.max_latency_ms[pct] = _positive(params, key)
        self.expect_header_share = None
        share = params.get("expect_header_share") or None
        if share:
            if not self.count_header:
                raise HttpCheckError("expect_header_share: needs count_header, the header whose values are tallied")
            if share.get("value") is None:
                raise HttpCheckError("expect_header_share.value: the header value that must answer, for example green")
            minimum = _fraction(share, "min", None, "expect_header_share.min")
            self.expect_header_share = {"value": str(share["value"]), "min": minimum}
        samples = params.get("max_failure_samples")
        self.max_failure_samples = 5 if samples is None else _int_in_range(params, "max_failure_samples", 0, 1000)

    def burst_budget_s(self):
        """Hard upper bound of the burst: every round of `concurrency` requests may take a full timeout."""
        rounds = math.ceil(self.requests / self.concurrency)
        return rounds * (self.timeout + self.interval_s) + BUDGET_GRACE_S


def _int_in_range(params, key, low, high):
    value = params.get(key)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise HttpCheckError(f"{key}: must be a whole number from {low} to {high}, got {value!r}") from None
    if not low <= number <= high:
        raise HttpCheckError(f"{key}: must be from {low} to {high}, got {number}")
    return number


def _fraction(params, key, default, option=None):
    option = option or key
    value = params.get(key)
    if value is None:
        if default is None:
            raise HttpCheckError(f"{option}: required, a fraction from 0 to 1 (0.95 = 95 %)")
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number <= 1:
        raise HttpCheckError(f"{option}: a fraction from 0 to 1 (0.01 = 1 %), got {value!r}")
    return number


def _not_negative(params, key):
    value = params.get(key)
    if value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number < math.inf:
        raise HttpCheckError(f"{key}: must be 0 or a positive number, got {value!r}")
    return number


def _positive(params, key):
    value = params.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HttpCheckError(f"{key}: must be a number greater than 0, got {value!r}") from None
    # NaN compares false with everything, so test for the good range, not the bad one.
    if not 0 < number < math.inf:
        raise HttpCheckError(f"{key}: must be a number greater than 0, got {value}")
    return number
