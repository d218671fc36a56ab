# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""http_check against real HTTP servers on loopback, run as Ansible runs a module (and once in a playbook)."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.lib.backends import ColourBackend
from tests.lib.nginx import NGINX, LoopbackNginx
from tests.lib.ports import LOOPBACK, free_port


def test_all_pass(run_module, backend):
    green = backend("green", "2.4.1")
    result = run_module("http_check", {
        "url": green.url + "/healthz", "requests": 50, "concurrency": 5, "timeout": 2,
        "headers": {"Host": "shop.example.com"}, "expect_status": [200], "expect_body": '"color": "green"',
        "expect_headers": {"X-App-Version": "2.4.1"}, "count_header": "X-App-Color",
        "max_error_rate": 0.0, "max_latency_p95_ms": 2000,
    })
    assert not result.failed, result.get("msg")
    assert result["changed"] is False
    assert result["passed"] is True
    assert (result["requests"], result["successes"], result["failures"], result["error_rate"]) == (50, 50, 0, 0.0)
    assert result["status_codes"] == {"200": 50}
    assert result["header_counts"] == {"green": 50}
    assert result["failure_kinds"] == {}
    assert result["failure_samples"] == []
    lat = result["latency_ms"]
    assert lat["count"] == 50
    assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert green.requests == 50  # the burst really reached the server, once per request
    assert result["summary"].startswith("http_check PASSED: 50/50 ok")


def test_server_failing_a_known_fraction(run_module, backend):
    blue = backend("blue")
    blue.behaviour.fail_every = 10  # every 10th request the server sees answers 500
    args = {"url": blue.url, "requests": 50, "concurrency": 5, "timeout": 2}
    result = run_module("http_check", args)
    assert result.failed
    assert (result["failures"], result["error_rate"]) == (5, 0.1)
    assert result["failure_kinds"] == {"status": 5}
    assert result["status_codes"] == {"200": 45, "500": 5}
    assert result["msg"].startswith("http_check FAILED (error rate 10% > 0%): 45/50 ok")
    assert len(result["failure_samples"]) == 5
    assert result["failure_samples"][0]["reason"] == "status 500, expected 200"

    # The same fraction is within a 10 % budget (the boundary is inclusive).
    result = run_module("http_check", dict(args, max_error_rate=0.1))
    assert not result.failed, result.get("msg")
    assert result["passed"] is True and result["failures"] == 5


def test_slow_server_breaks_the_latency_threshold(run_module, backend):
    slow = backend("blue")
    slow.behaviour.delay_s = 0.3
    result = run_module("http_check", {
        "url": slow.url, "requests": 10, "concurrency": 5, "timeout": 2, "max_latency_p95_ms": 100,
    })
    assert result.failed
    assert result["failures"] == 0  # slow, not broken: only the latency threshold is missed
    assert result["latency_ms"]["p95"] >= 300
    assert len(result["thresholds_missed"]) == 1
    assert result["thresholds_missed"][0].startswith("p95 latency ")
    assert "ms > 100 ms" in result["msg"]


def test_answer_later_than_timeout_is_a_timeout(run_module, backend):
    slow = backend("blue")
    slow.behaviour.delay_s = 1.0
    result = run_module("http_check", {
        "url": slow.url, "requests": 4, "concurrency": 2, "timeout": 0.3, "fail_on_threshold": False,
    })
    assert not result.failed
    assert result["passed"] is False
    assert result["failure_kinds"] == {"timeout": 4}
    # Bounded: 2 rounds of 0.3 s, plus the documented 1 s grace and process start-up.
    assert result["elapsed_ms"] < (2 * 0.3 + 1.0) * 1000


def test_server_not_up_yet_is_waited_for(run_module):
    port = free_port()
    started = []

    def start_later():
        # Long enough that the module (about 0.5 s to start) is refused at least once.
        time.sleep(2.0)
        started.append(ColourBackend("green", port=port).start())

    thread = threading.Thread(target=start_later, daemon=True)
    thread.start()
    try:
        result = run_module("http_check", {
            "url": f"http://{LOOPBACK}:{port}/healthz", "requests": 10, "ready_timeout": 20, "timeout": 2,
            "count_header": "X-App-Color",
        })
    finally:
        thread.join(5)
        for server in started:
            server.stop()
    assert not result.failed, result.get("msg")
    assert result["ready_attempts"] >= 2  # it was refused at least once before the server came up
    assert result["ready_ms"] > 0
    assert result["header_counts"] == {"green": 10}
    assert result["failures"] == 0


def test_never_up_fails_with_url_and_last_error(run_module):
    url = f"http://{LOOPBACK}:{free_port()}/healthz"
    result = run_module("http_check", {"url": url, "requests": 10, "ready_timeout": 1, "timeout": 2,
                                       "fail_on_threshold": False})
    assert result.failed
    assert url in result["msg"]
    assert "ready_timeout 1s" in result["msg"]
    assert "Connection refused" in result["msg"]
    assert result["passed"] is False
    assert "requests" not in result  # no burst against a target that never came up
    assert result["elapsed_ms"] < (1 + 2 + 1) * 1000


def test_port_with_nothing_listening(run_module):
    url = f"http://{LOOPBACK}:{free_port()}/"
    result = run_module("http_check", {"url": url, "requests": 6, "concurrency": 3, "fail_on_threshold": False})
    assert not result.failed
    assert result["passed"] is False
    assert result["failure_kinds"] == {"connection": 6}
    assert result["status_codes"] == {}
    assert result["latency_ms"]["count"] == 0 and result["latency_ms"]["p95"] is None
    assert result["failure_samples"][0]["kind"] == "connection"
    assert "refused" in result["failure_samples"][0]["reason"].lower()
    assert "failures connection=6" in result["summary"]

    result = run_module("http_check", {"url": url, "requests": 2})
    assert result.failed and result["msg"].startswith("http_check FAILED (error rate 100% > 0%)")


def test_body_and_header_expectations_fail_by_kind(run_module, backend):
    blue = backend("blue", "1.0.0")
    result = run_module("http_check", {
        "url": blue.url, "requests": 4, "expect_body": "purple", "fail_on_threshold": False,
    })
    assert result["failure_kinds"] == {"body": 4}
    result = run_module("http_check", {
        "url": blue.url, "requests": 4, "expect_headers": {"X-App-Version": "2.4.1"}, "fail_on_threshold": False,
    })
    assert result["failure_kinds"] == {"header": 4}
    assert "'1.0.0'" in result["failure_samples"][0]["reason"]
    result = run_module("http_check", {
        "url": blue.url, "requests": 4, "header_match": "regex", "expect_headers": {"x-app-version": r"^1\.0\."},
    })
    assert not result.failed, result.get("msg")
    result = run_module("http_check", {"url": blue.url, "requests": 3, "expect_status": [204],
                                       "fail_on_threshold": False})
    assert result["failure_kinds"] == {"status": 3}


def test_post_with_body(run_module, backend):
    blue = backend("blue")
    result = run_module("http_check", {"url": blue.url + "/api", "method": "POST", "body": '{"probe": true}',
                                       "headers": {"Content-Type": "application/json"}, "requests": 3,
                                       "expect_body": '"path": "/api"'})
    assert not result.failed, result.get("msg")
    assert blue.requests == 3


def test_urls_are_spread_evenly(run_module, backend):
    blue, green = backend("blue"), backend("green")
    result = run_module("http_check", {"urls": [blue.url, green.url], "requests": 20, "concurrency": 4,
                                       "count_header": "X-App-Color"})
    assert not result.failed, result.get("msg")
    assert result["header_counts"] == {"blue": 10, "green": 10}
    assert (blue.requests, green.requests) == (10, 10)
    assert "2 URLs" in result["summary"]


def test_tls_errors_and_trust(run_module, tls_server):
    url, cert = tls_server
    result = run_module("http_check", {"url": url, "requests": 3, "fail_on_threshold": False})
    assert not result.failed
    assert result["failure_kinds"] == {"tls": 3}
    assert "certificate" in result["failure_samples"][0]["reason"].lower()

    result = run_module("http_check", {"url": url, "requests": 3, "validate_certs": False, "expect_body": "^ok$"})
    assert not result.failed, result.get("msg")
    result = run_module("http_check", {"url": url, "requests": 3, "ca_path": str(cert)})
    assert not result.failed, result.get("msg")
    # A TLS error ends the readiness wait at once: the server is up, retrying cannot fix a certificate.
    result = run_module("http_check", {"url": url, "requests": 1, "ready_timeout": 30, "fail_on_threshold": False})
    assert result["ready_attempts"] == 1
    assert result["failure_kinds"] == {"tls": 1}


def test_non_http_answer_is_a_protocol_failure(run_module, garbage_server):
    result = run_module("http_check", {"url": garbage_server, "requests": 3, "fail_on_threshold": False})
    assert not result.failed
    assert result["failure_kinds"] == {"protocol": 3}


def test_check_mode_sends_requests_and_never_changes(run_module, backend):
    blue = backend("blue")
    result = run_module("http_check", {"url": blue.url, "requests": 5}, check_mode=True)
    assert not result.failed, result.get("msg")
    assert result["changed"] is False
    assert result["passed"] is True
    assert blue.requests == 5


# --- through a real nginx ----------------------------------------------------------------
@pytest.fixture
def nginx(tmp_path):
    server = LoopbackNginx(tmp_path / "nginx")
    yield server
    server.stop()


def test_header_tally_of_two_backends_behind_nginx(run_module, backend, nginx):
    blue, green = backend("blue", "1.0.0"), backend("green", "2.0.0")
    (nginx.conf_d / "shop.conf").write_text(f"upstream shop {{ server {blue.address}; server {green.address}; }}\n")
    port = nginx.add_proxy_site("shop")
    nginx.start()
    url = f"http://{LOOPBACK}:{port}/healthz"
    result = run_module("http_check", {"url": url, "requests": 100, "concurrency": 5, "timeout": 2,
                                       "headers": {"Host": "shop.example.com"}, "count_header": "X-App-Color"})
    assert not result.failed, result.get("msg")
    counts = result["header_counts"]
    assert set(counts) == {"blue", "green"}
    assert sum(counts.values()) == 100
    # Round robin per nginx worker (2 workers): close to 50/50, never one-sided.
    assert 30 <= counts["blue"] <= 70, counts
    assert (blue.requests, green.requests) == (counts["blue"], counts["green"])

    # Post-switch verification: green must answer 95 %; with a 50/50 split it fails and says why.
    verify = {"url": url, "requests": 40, "concurrency": 4, "count_header": "X-App-Color",
              "expect_header_share": {"value": "green", "min": 0.95}}
    result = run_module("http_check", verify)
    assert result.failed
    assert "X-App-Color=green share" in result["msg"] and "< 95%" in result["msg"]
    assert result["header_share"]["answers"] == 40

    # Switch the upstream to green only; the same verification passes.
    (nginx.conf_d / "shop.conf").write_text(f"upstream shop {{ server {green.address}; }}\n")
    old_workers = nginx.worker_pids()
    reload = subprocess.run([NGINX, "-p", str(nginx.prefix), "-c", str(nginx.main_conf), "-s", "reload"],
                            capture_output=True, text=True, check=False)
    assert reload.returncode == 0, reload.stderr
    deadline = time.monotonic() + 10
    while nginx.worker_pids() & old_workers and time.monotonic() < deadline:
        time.sleep(0.05)
    result = run_module("http_check", verify)
    assert not result.failed, result.get("msg")
    assert result["header_counts"] == {"green": 40}
    assert result["header_share"]["share"] == 1.0


# --- through ansible-playbook ------------------------------------------------------------
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check
      switchyard.bluegreen.http_check:
        url: "{{ check_url }}"
        requests: 20
        concurrency: 4
        max_error_rate: "{{ max_rate }}"
        count_header: X-App-Color
      register: check
    - name: Show
      ansible.builtin.debug:
        msg: "passed={{ check.passed }} changed={{ check.changed }}"
"""


def test_playbook_threshold_fails_task_and_check_mode_works(run_playbook, backend, tmp_path):
    blue = backend("blue")
    blue.behaviour.fail_every = 4
    playbook = tmp_path / "check.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "hosts"
    inventory.write_text("localhost ansible_connection=local\n")

    proc = run_playbook(playbook, inventory=inventory, extra_vars={"check_url": blue.url, "max_rate": 0.0})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "http_check FAILED (error rate 25% > 0%): 15/20 ok" in output
    assert "passed=" not in output  # the play stopped at the failed task

    proc = run_playbook(playbook, inventory=inventory, extra_vars={"check_url": blue.url, "max_rate": 0.5},
                        args=["--check"])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "passed=True changed=False" in output
    assert "changed=0" in output  # play recap


def test_redirect_is_judged_as_answered_unless_followed(run_module, backend):
    moved = backend("blue")
    moved.behaviour.status = 302
    moved.behaviour.extra_headers = {"Location": "/elsewhere"}
    result = run_module("http_check", {"url": moved.url, "requests": 2, "fail_on_threshold": False})
    assert result["failure_kinds"] == {"status": 2}
    assert result["status_codes"] == {"302": 2}
    result = run_module("http_check", {"url": moved.url, "requests": 2, "expect_status": [302],
                                       "expect_headers": {"Location": "/elsewhere"}})
    assert not result.failed, result.get("msg")
    assert moved.requests == 4  # never followed


def test_head_requests(run_module, backend):
    green = backend("green")
    result = run_module("http_check", {"url": green.url, "method": "head", "requests": 3,
                                       "count_header": "X-App-Color"})
    assert not result.failed, result.get("msg")
    assert result["header_counts"] == {"green": 3}
