# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Sending the requests: one request and its verdict, the readiness wait, the bounded burst.

Plain Python on top of the standard library and ansible.module_utils.urls, so it runs on any
managed host and can be tested without Ansible. ``classify_exception`` turns whatever a
request raised into one failure kind; ``run_check`` is the whole check (readiness, burst,
evaluation).
"""

from __future__ import annotations

import http.client
import queue
import socket
import ssl
import threading
import time
import urllib.error

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, SSLValidationError, make_context

from ansible_collections.switchyard.bluegreen.plugins.module_utils._http.evaluate import evaluate, number_text, round_ms
from ansible_collections.switchyard.bluegreen.plugins.module_utils._http.spec import HttpCheckError

# Only this much of a body is kept for expect_body; the rest is read (latency covers the
# whole response) and thrown away.
BODY_MATCH_LIMIT = 1024 * 1024
READ_CHUNK = 64 * 1024
# Pause between readiness probes: short, because this waits for a server to come up.
READY_PROBE_INTERVAL_S = 0.25


class _RequestTimeoutError(Exception):
    """The response took longer than the per-request timeout while its body was read."""


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
            return {"ready": False, "ready_ms": round_ms((clock() - started) * 1000), "attempts": attempts,
                    "url": url, "last_error": last_error}
        sleep(min(READY_PROBE_INTERVAL_S, remaining))
    return {"ready": True, "ready_ms": round_ms((clock() - started) * 1000), "attempts": attempts,
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
                f"{number_text(spec.ready_timeout)}s ({ready['attempts']} attempts); last error: {ready['last_error']}"
            )
            result["elapsed_ms"] = round_ms((time.monotonic() - started) * 1000)
            return False, result
    results = run_burst(spec, send=lambda url: send_request(spec, url, opener))
    result.update(evaluate(spec, results))
    result["elapsed_ms"] = round_ms((time.monotonic() - started) * 1000)
    return True, result
