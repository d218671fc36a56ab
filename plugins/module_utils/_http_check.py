# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Logic of the http_check module: a bounded burst of HTTP requests, judged against thresholds.

Plain Python on top of the standard library and ansible.module_utils.urls, so it runs on any
managed host and can be tested without Ansible. The module only maps options in and results out.
"""

from __future__ import annotations

import http.client
import math
import queue
import re
import socket
import ssl
import threading
import time
import urllib.error
from fractions import Fraction
from urllib.parse import urlsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, SSLValidationError, make_context

# Failure kinds, in the order they are reported.
FAILURE_KINDS = ("connection", "timeout", "tls", "protocol", "status", "body", "header", "error")

PERCENTILES = (50, 95, 99)
# Only this much of a body is kept for expect_body; the rest is read (latency covers the
# whole response) and thrown away.
BODY_MATCH_LIMIT = 1024 * 1024
READ_CHUNK = 64 * 1024
# Pause between readiness probes: short, because this waits for a server to come up.
READY_PROBE_INTERVAL_S = 0.25
# Slack on top of the computed time budget of the burst (thread start, scheduling).
BUDGET_GRACE_S = 1.0
MAX_CONCURRENCY = 256
MAX_REQUESTS = 100000
MISSING_HEADER = "(missing)"


class HttpCheckError(Exception):
    """Bad input: the message names the option and what to do about it."""


class _RequestTimeoutError(Exception):
    """The response took longer than the per-request timeout while its body was read."""


# ---------------------------------------------------------------------------
# Percentiles and statistics
# ---------------------------------------------------------------------------
def percentile(values, pct):
    """Nearest-rank percentile: the smallest value with at least pct % of the values <= it.

    rank = ceil(pct / 100 * n), 1-based, over the sorted values. The result is always one of
    the measured values (no interpolation), which is the usual reading of an SLO such as
    "95 % of requests faster than 300 ms". Exact arithmetic avoids float rounding of the rank.
    Returns None for no values.
    """
    if not values:
        return None
    fraction = Fraction(str(pct))
    if fraction <= 0 or fraction > 100:
        raise ValueError(f"percentile must be in (0, 100], got {pct}")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def latency_stats(latencies_ms):
    """min, p50, p95, p99, max and mean in milliseconds (None each when there are no values)."""
    stats = {"count": len(latencies_ms)}
    for pct in PERCENTILES:
        stats[f"p{pct}"] = _round_ms(percentile(latencies_ms, pct))
    if latencies_ms:
        stats["min"] = _round_ms(min(latencies_ms))
        stats["max"] = _round_ms(max(latencies_ms))
        stats["mean"] = _round_ms(sum(latencies_ms) / len(latencies_ms))
    else:
        stats["min"] = stats["max"] = stats["mean"] = None
    return stats


def _round_ms(value):
    return None if value is None else round(value, 2)


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------
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
            "http_agent": params.get("http_agent") or "switchyard-http-check",
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
        if self.header_match not in ("exact", "regex"):
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


# ---------------------------------------------------------------------------
# One request
# ---------------------------------------------------------------------------
def classify_exception(exc):  # noqa: PLR0911 - one return per failure kind
    """Map an exception raised while sending a request to (kind, reason). Never raises."""
    reason_exc = exc
    # urllib wraps errors of the connect/send phase in URLError(reason=<original>).
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        if isinstance(exc.reason, BaseException):
            reason_exc = exc.reason
        else:
            return "connection", f"URL error: {exc.reason}"
    text = str(reason_exc) or type(reason_exc).__name__
    if isinstance(reason_exc, _RequestTimeoutError):
        return "timeout", text
    if isinstance(reason_exc, (ssl.SSLError, ssl.CertificateError, SSLValidationError)):
        return "tls", f"TLS error: {text}"
    if isinstance(reason_exc, (socket.timeout, TimeoutError)):
        return "timeout", f"timed out: {text}"
    if isinstance(reason_exc, socket.gaierror):
        return "connection", f"name resolution failed: {text}"
    if isinstance(reason_exc, (ConnectionError, UrlsConnectionError)):
        return "connection", f"{type(reason_exc).__name__}: {text}"
    if isinstance(reason_exc, http.client.HTTPException):
        return "protocol", f"invalid HTTP response ({type(reason_exc).__name__}): {text}"
    if isinstance(reason_exc, OSError):
        return "connection", f"{type(reason_exc).__name__}: {text}"
    return "error", f"{type(reason_exc).__name__}: {text}"


def _read_body(response, started, timeout):
    """Read the whole body (so latency covers it), keeping the first BODY_MATCH_LIMIT bytes."""
    kept = []
    kept_len = 0
    while True:
        chunk = response.read(READ_CHUNK)
        if not chunk:
            break
        if kept_len < BODY_MATCH_LIMIT:
            kept.append(chunk[: BODY_MATCH_LIMIT - kept_len])
            kept_len += len(kept[-1])
        if time.monotonic() - started > timeout:
            raise _RequestTimeoutError(f"body not complete after the {timeout}s timeout")
    return b"".join(kept)


def make_opener(spec):
    """A function (url, data, headers, method, timeout) -> response, built on ansible's urls.Request.

    The TLS context is made once: building it per request loads the CA store every time
    (about 55 ms here), which would be measured as latency. Cookies are dropped so that every
    request is a new client (no sticky-session cookie pins the burst to one backend).
    """
    args = dict(spec.open_url_args)
    ca_path = args.pop("ca_path")
    try:
        context = make_context(cafile=ca_path, validate_certs=args["validate_certs"],
                               client_cert=args.pop("client_cert"), client_key=args.pop("client_key"))
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise HttpCheckError(f"ca_path, client_cert or client_key: cannot load the TLS files ({exc})") from None
    request = Request(context=context, **args)
    request.cookies = None

    def opener(url, data, headers, method, timeout):
        # Request.open installs its urllib opener globally; all threads build identical ones, so
        # the race between threads is harmless.
        return request.open(method, url, data=data, headers=headers, timeout=timeout)

    return opener


def send_request(spec, url, opener):
    """Send one request and judge it. Returns a result dict; never raises for network trouble.

    Keys: url, status (int or None), latency_ms (None if no HTTP answer), kind (None when the
    request passed), reason, headers (HTTPMessage or None).
    """
    started = time.monotonic()
    status = None
    headers = None
    try:
        try:
            response = opener(url, data=spec.body, headers=dict(spec.headers), method=spec.method, timeout=spec.timeout)
        except urllib.error.HTTPError as http_error:
            # Any non-2xx answer: still an answer, with status, headers and body to judge.
            response = http_error
        try:
            status = response.status if getattr(response, "status", None) is not None else response.getcode()
            headers = response.headers
            body = _read_body(response, started, spec.timeout) if getattr(response, "fp", None) is not None else b""
        finally:
            response.close()
    except Exception as exc:
        kind, reason = classify_exception(exc)
        return _result(url, status, None, kind, reason, headers)
    latency_ms = (time.monotonic() - started) * 1000.0
    if latency_ms > spec.timeout * 1000.0:
        reason = f"answered after {latency_ms:.0f} ms, over the {spec.timeout}s timeout"
        return _result(url, status, latency_ms, "timeout", reason, headers)
    kind, reason = judge_response(spec, status, headers, body)
    return _result(url, status, latency_ms, kind, reason, headers)


def _result(url, status, latency_ms, kind, reason, headers):  # noqa: PLR0917 - one flat record
    return {"url": url, "status": status, "latency_ms": latency_ms, "kind": kind, "reason": reason, "headers": headers}


def judge_response(spec, status, headers, body):
    """(kind, reason) of a failed expectation, or (None, None) when the answer is as expected."""
    if status not in spec.expect_status:
        expected = " or ".join(str(s) for s in spec.expect_status)
        return "status", f"status {status}, expected {expected}"
    if spec.expect_body is not None:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body or "")
        if not spec.expect_body.search(text):
            return "body", f"body does not match {spec.expect_body.pattern!r} (first bytes: {text[:80]!r})"
    for name, expected, matcher in spec.expect_headers:
        actual = headers.get(name) if headers is not None else None
        if actual is None:
            return "header", f"header {name} missing (expected {expected!r})"
        ok = matcher.search(actual) is not None if matcher is not None else actual == expected
        if not ok:
            how = "to match" if matcher is not None else "expected"
            return "header", f"header {name} is {actual!r} ({how} {expected!r})"
    return None, None


# ---------------------------------------------------------------------------
# Readiness and the burst
# ---------------------------------------------------------------------------
def wait_until_ready(spec, opener, clock=time.monotonic, sleep=time.sleep):
    """Poll every URL until each gives any HTTP answer (or a TLS handshake), within ready_timeout.

    Returns {"ready": bool, "ready_ms": float, "attempts": int, "url": <first URL not ready>,
    "last_error": str}. Any status counts (a 503 still proves the server is up); a TLS error
    also ends the wait, because the server answered and retrying cannot fix a certificate.
    """
    started = clock()
    deadline = started + spec.ready_timeout
    pending = list(spec.urls)
    attempts = 0
    last_error = None
    while pending:
        url = pending[0]
        remaining = deadline - clock()
        probe = _ProbeSpec(spec, max(min(spec.timeout, remaining), 0.05))
        attempts += 1
        result = send_request(probe, url, opener)
        if result["status"] is not None or result["kind"] == "tls":
            pending.pop(0)
            continue
        last_error = result["reason"]
        remaining = deadline - clock()
        if remaining <= 0:
            return {"ready": False, "ready_ms": _round_ms((clock() - started) * 1000), "attempts": attempts,
                    "url": url, "last_error": last_error}
        sleep(min(READY_PROBE_INTERVAL_S, remaining))
    return {"ready": True, "ready_ms": _round_ms((clock() - started) * 1000), "attempts": attempts,
            "url": None, "last_error": last_error}


class _ProbeSpec:
    """A CheckSpec view with a shorter timeout and no expectations, for readiness probes."""

    def __init__(self, spec, timeout):
        self.__dict__.update(spec.__dict__)
        self.timeout = timeout
        self.expect_status = list(range(100, 600))
        self.expect_body = None
        self.expect_headers = []


def run_burst(spec, send, clock=time.monotonic):
    """Send spec.requests requests over spec.urls (round robin) with spec.concurrency threads.

    Workers are daemon threads pulling request numbers from a queue, so a request stuck past
    the time budget can be abandoned: it is counted as a timeout and cannot hold the module
    open (a ThreadPoolExecutor would join it at interpreter exit). Returns the list of result
    dicts in request order.
    """
    todo = queue.Queue()
    for number in range(spec.requests):
        todo.put(number)
    results = [None] * spec.requests
    deadline = clock() + spec.burst_budget_s()

    def worker():
        first = True
        while True:
            try:
                number = todo.get_nowait()
            except queue.Empty:
                return
            if not first and spec.interval_s:
                time.sleep(max(0.0, min(spec.interval_s, deadline - clock())))
            first = False
            if clock() >= deadline:
                return
            results[number] = send(spec.urls[number % len(spec.urls)])

    threads = [threading.Thread(target=worker, name=f"http-check-{i}", daemon=True) for i in range(spec.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - clock()))
    snapshot = list(results)
    budget = spec.burst_budget_s()
    for number, result in enumerate(snapshot):
        if result is None:
            snapshot[number] = _result(spec.urls[number % len(spec.urls)], None, None, "timeout",
                                       f"no answer within the time budget of {budget:.1f}s for the whole burst", None)
    return snapshot


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------
def evaluate(spec, results):
    """Aggregate results and apply the thresholds. Returns the module's result fields."""
    total = len(results)
    failed = [r for r in results if r["kind"] is not None]
    # Latency is measured over every complete HTTP answer, whatever its status.
    latencies = [r["latency_ms"] for r in results if r["status"] is not None and r["latency_ms"] is not None]
    header_counts = _tally_header(spec.count_header, results) if spec.count_header else {}
    result = {
        "requests": total,
        "successes": total - len(failed),
        "failures": len(failed),
        "error_rate": round(len(failed) / total, 6) if total else 0.0,
        "failure_kinds": _count(r["kind"] for r in failed),
        "status_codes": _count(str(r["status"]) for r in results if r["status"] is not None),
        "latency_ms": latency_stats(latencies),
        "header_counts": header_counts,
        "failure_samples": sample_failures(failed, spec.max_failure_samples),
    }
    missed = []
    if total and Fraction(len(failed), total) > Fraction(str(spec.max_error_rate)):
        missed.append(f"error rate {_pct(len(failed) / total)} > {_pct(spec.max_error_rate)}")
    for pct, limit in sorted(spec.max_latency_ms.items()):
        value = percentile(latencies, pct)
        if value is None:
            missed.append(f"p{pct} latency unknown (no HTTP answers), limit {_num(limit)} ms")
        elif value > limit:
            missed.append(f"p{pct} latency {_num(value)} ms > {_num(limit)} ms")
    if spec.expect_header_share:
        result["header_share"] = _header_share(spec, header_counts, missed)
    result["thresholds_missed"] = missed
    result["passed"] = not missed
    result["summary"] = summarize(spec, result)
    return result


def _count(keys):
    """Occurrences per key, in order of first appearance (failure kinds in FAILURE_KINDS order)."""
    counts = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    order = {kind: i for i, kind in enumerate(FAILURE_KINDS)}
    return dict(sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order))))


def _tally_header(name, results):
    """Values of header `name` over all HTTP answers (any status); MISSING_HEADER when absent."""
    values = []
    for r in results:
        if r["headers"] is not None:
            value = r["headers"].get(name)
            values.append(MISSING_HEADER if value is None else value)
    return _count(values)


def _header_share(spec, header_counts, missed):
    """Share of HTTP answers whose count_header equals the wanted value; appends to missed if too low."""
    wanted = spec.expect_header_share["value"]
    minimum = spec.expect_header_share["min"]
    answers = sum(header_counts.values())
    hits = header_counts.get(wanted, 0)
    share = hits / answers if answers else 0.0
    if answers == 0 or Fraction(hits, answers) < Fraction(str(minimum)):
        missed.append(f"{spec.count_header}={wanted} share {_pct(share)} < {_pct(minimum)}")
    return {"value": wanted, "share": round(share, 6), "min": minimum, "answers": answers, "count": hits}


def sample_failures(failed, limit):
    """Up to `limit` failures, one of each kind first so a rare kind is not hidden by a common one."""
    chosen = []
    seen_kinds = set()
    for r in failed:
        if len(chosen) >= limit:
            break
        if r["kind"] not in seen_kinds:
            seen_kinds.add(r["kind"])
            chosen.append(r)
    for r in failed:
        if len(chosen) >= limit:
            break
        if r not in chosen:
            chosen.append(r)
    return [{"url": r["url"], "kind": r["kind"], "reason": r["reason"], "status": r["status"],
             "latency_ms": _round_ms(r["latency_ms"])} for r in chosen]


def summarize(spec, result):
    """One line for the job log: verdict and what missed, counts, latency, tallies, target."""
    verdict = "PASSED" if result["passed"] else "FAILED ({})".format("; ".join(result["thresholds_missed"]))
    parts = [f"http_check {verdict}: {result['successes']}/{result['requests']} ok"]
    if result["failure_kinds"]:
        parts.append("failures " + _pairs(result["failure_kinds"].items()))
    lat = result["latency_ms"]
    if lat["count"]:
        parts.append(
            f"latency ms p50 {_num(lat['p50'])} p95 {_num(lat['p95'])} p99 {_num(lat['p99'])} max {_num(lat['max'])}"
        )
    if result["status_codes"]:
        parts.append("status " + _pairs(sorted(result["status_codes"].items())))
    if spec.count_header:
        tally = _pairs(sorted(result["header_counts"].items(), key=lambda kv: -kv[1]))
        parts.append(f"{spec.count_header} {tally or 'none'}")
    parts.append(f"{len(spec.urls)} URLs" if len(spec.urls) > 1 else spec.urls[0])
    return "; ".join(parts)


def _pairs(items):
    return ", ".join(f"{key}={value}" for key, value in items)


def _pct(fraction):
    return f"{_num(round(fraction * 100, 2))}%"


def _num(value):
    """Compact number for the summary: 3, 3.5, 12.25."""
    if value is None:
        return "n/a"
    return (f"{value:.2f}").rstrip("0").rstrip(".")


def run_check(spec, opener=None):
    """Readiness wait (if asked), then the burst and its evaluation. Returns (ready, result)."""
    if opener is None:
        opener = make_opener(spec)
    started = time.monotonic()
    result = {"urls": spec.urls, "ready_ms": None}
    if spec.ready_timeout > 0:
        ready = wait_until_ready(spec, opener)
        result["ready_ms"] = ready["ready_ms"]
        result["ready_attempts"] = ready["attempts"]
        if not ready["ready"]:
            result["passed"] = False
            result["summary"] = (
                f"http_check FAILED: {ready['url']} gave no HTTP answer within ready_timeout "
                f"{_num(spec.ready_timeout)}s ({ready['attempts']} attempts); last error: {ready['last_error']}"
            )
            result["elapsed_ms"] = _round_ms((time.monotonic() - started) * 1000)
            return False, result
    results = run_burst(spec, send=lambda url: send_request(spec, url, opener))
    result.update(evaluate(spec, results))
    result["elapsed_ms"] = _round_ms((time.monotonic() - started) * 1000)
    return True, result
