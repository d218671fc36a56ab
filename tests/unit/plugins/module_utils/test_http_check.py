# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of http_check's logic: percentiles, validation, classification, thresholds, burst bounds."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.error
from email.message import Message

import pytest
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError

from ansible_collections.switchyard.bluegreen.plugins.module_utils._http import burst as hburst
from ansible_collections.switchyard.bluegreen.plugins.module_utils._http import evaluate as heval
from ansible_collections.switchyard.bluegreen.plugins.module_utils._http import spec as hspec


def spec(**overrides):
    params = {"url": "http://127.0.0.1:8080/healthz", "requests": 10, "concurrency": 2, "timeout": 2.0}
    params.update(overrides)
    return hspec.CheckSpec(params)


def headers(**values):
    msg = Message()
    for key, value in values.items():
        msg[key.replace("_", "-")] = value
    return msg


def answer(*, status=200, latency=1.0, kind=None, reason=None, hdrs=None, url="http://127.0.0.1:8080/healthz"):
    return {"url": url, "status": status, "latency_ms": latency, "kind": kind, "reason": reason,
            "headers": hdrs if hdrs is not None else headers()}


def no_answer(kind="connection", reason="refused"):
    return {"url": "http://127.0.0.1:8080/healthz", "status": None, "latency_ms": None, "kind": kind,
            "reason": reason, "headers": None}


# --- percentiles -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        # The textbook nearest-rank examples.
        ([15, 20, 35, 40, 50], 5, 15),
        ([15, 20, 35, 40, 50], 30, 20),
        ([15, 20, 35, 40, 50], 40, 20),
        ([15, 20, 35, 40, 50], 50, 35),
        ([15, 20, 35, 40, 50], 100, 50),
        ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 25, 7),
        ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 50, 8),
        ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 75, 15),
        ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 100, 20),
        # Unsorted input, single value.
        ([50, 15, 40, 20, 35], 50, 35),
        ([7.5], 99, 7.5),
        # 1..100: pN is N. 7 % of 100 is 7.000000000000001 in floats: exact arithmetic keeps rank 7.
        (list(range(1, 101)), 7, 7),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 99, 99),
        # 1..20: p95 is the 19th value, p99 the maximum.
        (list(range(1, 21)), 95, 19),
        (list(range(1, 21)), 99, 20),
        # Fewer than 20 values: p95 is the maximum.
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], 95, 1000),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], 50, 5),
    ],
)
def test_percentile_nearest_rank(values, pct, expected):
    assert heval.percentile(values, pct) == expected


def test_percentile_empty_and_out_of_range():
    assert heval.percentile([], 95) is None
    with pytest.raises(ValueError):
        heval.percentile([1, 2], 0)
    with pytest.raises(ValueError):
        heval.percentile([1, 2], 101)


def test_latency_stats():
    stats = heval.latency_stats([float(v) for v in range(1, 101)])
    assert stats == {"count": 100, "p50": 50.0, "p95": 95.0, "p99": 99.0, "min": 1.0, "max": 100.0, "mean": 50.5}
    assert heval.latency_stats([])["p95"] is None


# --- validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"requests": 0}, "requests: must be from 1"),
        ({"concurrency": 0}, "concurrency: must be from 1"),
        ({"concurrency": 1000}, "concurrency: must be from 1 to 256"),
        ({"timeout": 0}, "timeout: must be a number greater than 0"),
        ({"max_error_rate": 1.5}, "max_error_rate: a fraction from 0 to 1"),
        ({"max_error_rate": -0.1}, "max_error_rate: a fraction from 0 to 1"),
        ({"expect_body": "ok("}, "expect_body: 'ok(' is not a valid Python regular expression"),
        ({"expect_headers": {"X-V": "2.4.["}, "header_match": "regex"}, "expect_headers.X-V"),
        ({"url": "10.0.1.11:8080/healthz"}, "is not an http:// or https:// URL"),
        ({"url": "ftp://host/x"}, "is not an http:// or https:// URL"),
        ({"url": "http:///healthz"}, "has no host"),
        ({"url": "http://host:99999/"}, "port"),
        ({"url": "http://host:abc/"}, "invalid port"),
        ({"url": "http://host/a b"}, "whitespace"),
        ({"url": None, "urls": ["http://ok/", "nope"]}, "urls: 'nope'"),
        ({"url": None}, "url or urls"),
        ({"expect_status": [42]}, "expect_status: 42"),
        ({"ready_timeout": -1}, "ready_timeout"),
        ({"interval_ms": -5}, "interval_ms"),
        ({"max_latency_p95_ms": 0}, "max_latency_p95_ms"),
        ({"expect_header_share": {"value": "green", "min": 0.9}}, "needs count_header"),
        ({"count_header": "X-App-Color", "expect_header_share": {"value": "green", "min": 2}},
         "expect_header_share.min"),
        ({"method": "GE T"}, "method:"),
    ],
)
def test_bad_input_is_named(overrides, message):
    with pytest.raises(hspec.HttpCheckError) as err:
        spec(**overrides)
    assert message in str(err.value)


def test_valid_spec_defaults_and_cap():
    s = spec(requests=3, concurrency=10, urls=None)
    assert s.concurrency == 3  # more threads than requests would idle
    assert s.expect_status == [200]
    assert s.max_error_rate == 0.0
    assert s.header_match == "exact"


def test_burst_budget_is_the_documented_bound():
    s = spec(requests=50, concurrency=5, timeout=2.0, interval_ms=100)
    assert s.burst_budget_s() == pytest.approx(10 * 2.1 + hspec.BUDGET_GRACE_S)
    s = spec(requests=51, concurrency=5, timeout=2.0)
    assert s.burst_budget_s() == pytest.approx(11 * 2.0 + hspec.BUDGET_GRACE_S)


# --- classification ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection"),
        (ConnectionResetError(104, "reset"), "connection"),
        (http.client.RemoteDisconnected("closed"), "connection"),
        (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "connection"),
        (urllib.error.URLError("unknown url type"), "connection"),
        (UrlsConnectionError("proxy down"), "connection"),
        (urllib.error.URLError(socket.timeout("timed out")), "timeout"),
        (TimeoutError("The read operation timed out"), "timeout"),
        (hburst._RequestTimeoutError("body not complete"), "timeout"),
        (urllib.error.URLError(ssl.SSLCertVerificationError(1, "certificate verify failed")), "tls"),
        (ssl.SSLError(1, "wrong version number"), "tls"),
        (SSLValidationError("bad cert"), "tls"),
        (http.client.BadStatusLine("garbage"), "protocol"),
        (http.client.IncompleteRead(b"part", 10), "protocol"),
        (OSError(113, "No route to host"), "connection"),
        (ValueError("something odd"), "error"),
    ],
)
def test_classify_exception(exc, kind):
    got_kind, reason = hburst.classify_exception(exc)
    assert got_kind == kind
    assert reason


class FakeResponse:
    def __init__(self, status, body=b"", hdrs=None):
        self.status = status
        self.headers = hdrs if hdrs is not None else headers()
        self._chunks = [body[i:i + 3] for i in range(0, len(body), 3)] + [b""]
        self.fp = object()
        self.closed = False

    def read(self, _size=-1):
        return self._chunks.pop(0)

    def close(self):
        self.closed = True


def test_send_request_judges_status_body_header():
    s = spec(expect_body=r'"ok"', expect_headers={"X-App-Version": "2.4.1"})
    good = FakeResponse(200, b'{"s": "ok"}', headers(X_App_Version="2.4.1"))
    result = hburst.send_request(s, s.urls[0], lambda *a, **k: good)
    assert result["kind"] is None and result["status"] == 200 and result["latency_ms"] >= 0
    assert good.closed

    reply = FakeResponse(200, b"nope", headers(X_App_Version="2.4.1"))
    result = hburst.send_request(s, s.urls[0], lambda *a, **k: reply)
    assert result["kind"] == "body"
    reply = FakeResponse(200, b'"ok"', headers(X_App_Version="2.4.0"))
    result = hburst.send_request(s, s.urls[0], lambda *a, **k: reply)
    assert result["kind"] == "header" and "'2.4.0'" in result["reason"]
    result = hburst.send_request(s, s.urls[0], lambda *a, **k: FakeResponse(200, b'"ok"'))
    assert result["kind"] == "header" and "missing" in result["reason"]


def test_send_request_http_error_is_an_answer():
    s = spec()

    def opener(*_a, **_k):
        raise urllib.error.HTTPError("http://x/", 503, "Unavailable", headers(X_App_Color="blue"), None)

    result = hburst.send_request(s, s.urls[0], opener)
    assert result["status"] == 503 and result["kind"] == "status"
    assert result["headers"]["X-App-Color"] == "blue"


def test_send_request_never_raises():
    s = spec()

    def opener(*_a, **_k):
        raise RuntimeError("boom")

    result = hburst.send_request(s, s.urls[0], opener)
    assert result["kind"] == "error" and "boom" in result["reason"]


def test_header_regex_mode():
    s = spec(header_match="regex", expect_headers={"X-App-Version": r"^2\.4\."})
    ok = hburst.judge_response(s, 200, headers(X_App_Version="2.4.7"), b"")
    bad = hburst.judge_response(s, 200, headers(X_App_Version="2.5.0"), b"")
    assert ok == (None, None)
    assert bad[0] == "header"
    # exact mode takes the same text literally
    s = spec(expect_headers={"X-App-Version": r"^2\.4\."})
    assert hburst.judge_response(s, 200, headers(X_App_Version="2.4.7"), b"")[0] == "header"


# --- evaluation --------------------------------------------------------------------------
def test_evaluate_counts_and_thresholds():
    s = spec(requests=10, max_error_rate=0.1, max_latency_p95_ms=50, count_header="X-App-Color")
    results = [answer(latency=float(i), hdrs=headers(X_App_Color="blue" if i % 2 else "green")) for i in range(1, 9)]
    results.append(answer(status=500, latency=9.0, kind="status", reason="500", hdrs=headers(X_App_Color="blue")))
    results.append(no_answer())
    out = heval.evaluate(s, results)
    assert out["requests"] == 10 and out["failures"] == 2 and out["successes"] == 8
    assert out["failure_kinds"] == {"connection": 1, "status": 1}
    assert out["status_codes"] == {"200": 8, "500": 1}
    assert out["header_counts"] == {"blue": 5, "green": 4}
    assert out["latency_ms"]["count"] == 9 and out["latency_ms"]["max"] == 9.0
    assert out["thresholds_missed"] == ["error rate 20% > 10%"]
    assert out["passed"] is False
    assert out["summary"].startswith("http_check FAILED (error rate 20% > 10%): 8/10 ok")
    assert "X-App-Color blue=5, green=4" in out["summary"]


def test_error_rate_boundary_is_inclusive():
    s = spec(requests=50, max_error_rate=0.1)
    results = [answer() for _n in range(45)] + [no_answer() for _n in range(5)]
    assert heval.evaluate(s, results)["passed"] is True
    results[0] = no_answer()
    assert heval.evaluate(s, results)["passed"] is False


def test_latency_thresholds_p95_and_p99():
    s = spec(requests=100, max_latency_p95_ms=95, max_latency_p99_ms=98.5)
    results = [answer(latency=float(i)) for i in range(1, 101)]
    out = heval.evaluate(s, results)
    assert out["thresholds_missed"] == ["p99 latency 99 ms > 98.5 ms"]
    s = spec(requests=1, max_latency_p95_ms=10)
    out = heval.evaluate(s, [no_answer()])
    assert "p95 latency unknown" in out["thresholds_missed"][1]


def test_header_share():
    s = spec(requests=20, count_header="X-App-Color", expect_header_share={"value": "green", "min": 0.95})
    results = [answer(hdrs=headers(X_App_Color="green")) for _n in range(19)] + [answer(hdrs=headers())]
    out = heval.evaluate(s, results)
    assert out["header_counts"] == {"green": 19, heval.MISSING_HEADER: 1}
    assert out["header_share"] == {"value": "green", "share": 0.95, "min": 0.95, "answers": 20, "count": 19}
    assert out["passed"] is True
    results[0] = answer(hdrs=headers(X_App_Color="blue"))
    out = heval.evaluate(s, results)
    assert out["passed"] is False
    assert out["thresholds_missed"] == ["X-App-Color=green share 90% < 95%"]


def test_failure_samples_show_each_kind_first():
    failed = [no_answer("status", f"s{i}") for i in range(10)] + [no_answer("timeout", "t")]
    samples = heval.sample_failures(failed, 3)
    assert [x["kind"] for x in samples] == ["status", "timeout", "status"]
    assert heval.sample_failures(failed, 0) == []


# --- readiness and the burst -------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_until_ready_retries_then_answers():
    s = spec(ready_timeout=10, urls=["http://a/", "http://b/"], url=None)
    clock = FakeClock()
    calls = []

    def opener(url, **_k):
        calls.append(url)
        if len(calls) < 4:
            raise urllib.error.URLError(ConnectionRefusedError(111, "refused"))
        return FakeResponse(503)

    ready = hburst.wait_until_ready(s, opener, clock=clock, sleep=clock.sleep)
    assert ready["ready"] is True
    assert ready["attempts"] == 5  # 3 refused + a's answer + b's answer
    assert calls == ["http://a/"] * 4 + ["http://b/"]
    assert ready["ready_ms"] == pytest.approx(750.0)


def test_wait_until_ready_gives_up_with_url_and_error():
    s = spec(ready_timeout=1)
    clock = FakeClock()

    def opener(*_a, **_k):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    ready = hburst.wait_until_ready(s, opener, clock=clock, sleep=clock.sleep)
    assert ready["ready"] is False
    assert ready["url"] == s.urls[0]
    assert "Connection refused" in ready["last_error"]
    assert ready["attempts"] == 5  # probes at 0, .25, .5, .75, 1.0 s


def test_run_burst_spreads_over_urls_in_order():
    s = spec(requests=9, concurrency=3, urls=["http://a/", "http://b/", "http://c/"], url=None)
    lock = threading.Lock()
    seen = []

    def send(url):
        with lock:
            seen.append(url)
        return answer(url=url)

    results = hburst.run_burst(s, send)
    assert [r["url"] for r in results] == ["http://a/", "http://b/", "http://c/"] * 3
    assert sorted(seen) == ["http://a/"] * 3 + ["http://b/"] * 3 + ["http://c/"] * 3


def test_run_burst_abandons_stuck_requests_as_timeouts():
    """A request that never returns cannot hold the burst past its budget; it counts as a timeout."""
    s = spec(requests=4, concurrency=2, timeout=0.05)
    release = threading.Event()
    started = []

    def send(url):
        started.append(url)
        if len(started) == 1:
            release.wait()  # stuck until the test ends
        return answer(url=url)

    # A clock that jumps past the deadline once the other worker has finished its three requests.
    def jumping_clock():
        return 0.0 if len(started) < 4 else 1e9

    try:
        results = hburst.run_burst(s, send, clock=jumping_clock)
    finally:
        release.set()
    kinds = [r["kind"] for r in results]
    assert kinds.count("timeout") == 1
    assert kinds.count(None) == 3
    stuck = next(r for r in results if r["kind"] == "timeout")
    assert "time budget" in stuck["reason"]


def test_answer_slower_than_timeout_counts_as_timeout():
    """Socket timeouts act per read; a server that keeps each read short but the whole answer long is caught."""
    s = spec(timeout=0.05)

    def slow_headers(*_a, **_k):
        time.sleep(0.08)
        return FakeResponse(200, b"")  # no body: only the total time can tell

    result = hburst.send_request(s, s.urls[0], slow_headers)
    assert result["kind"] == "timeout" and result["status"] == 200
    assert "over the 0.05s timeout" in result["reason"]

    class DripResponse(FakeResponse):
        def read(self, _size=-1):
            time.sleep(0.03)
            return b"x"  # never ends on its own

    result = hburst.send_request(s, s.urls[0], lambda *a, **k: DripResponse(200))
    assert result["kind"] == "timeout"
    assert "body not complete" in result["reason"]
