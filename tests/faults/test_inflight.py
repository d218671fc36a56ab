# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A long request on the old colour that spans the switch completes with 200.

Tested at module level: nginx_upstream reports ``drained`` only once the old worker
generation (which still carries the long request) has exited, which is the signal the
switch role waits for before retiring the old colour. The role's retire step
(roles/environment/tasks/retire.yml) stops a systemd unit and so is not run on this host.
"""

from __future__ import annotations

import http.client
import threading
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.process import process_alive
from tests.lib.nginx import LoopbackNginx
from tests.lib.ports import LOOPBACK

from .conftest import UPSTREAM, wait_for_single_generation

LONG_REQUEST_S = 2.0


class LongRequest:
    """One GET through the LB in a thread; records status, colour and when the response ended."""

    def __init__(self, nginx: LoopbackNginx):
        self.status = None
        self.colour = None
        self.error = None
        self.finished_at = None
        self._thread = threading.Thread(target=self._run, args=(nginx,), daemon=True)

    def _run(self, nginx: LoopbackNginx) -> None:
        # Own connection: LoopbackNginx.get gives up after 5 s.
        conn = http.client.HTTPConnection(LOOPBACK, nginx.ports[UPSTREAM], timeout=30)
        try:
            conn.request("GET", "/long")
            response = conn.getresponse()
            response.read()
            self.status, self.colour = response.status, response.getheader("X-App-Color")
        except (OSError, http.client.HTTPException) as exc:
            self.error = repr(exc)
        finally:
            conn.close()
        self.finished_at = time.monotonic()

    def start(self) -> LongRequest:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(timeout=30)


def start_long_request(lab, seconds: float = LONG_REQUEST_S) -> LongRequest:
    lab.backends["blue"].behaviour.delay_s = seconds
    long_request = LongRequest(lab.nginx).start()
    # Let it reach the backend before the switch starts.
    time.sleep(0.3)
    return long_request


def test_long_request_spans_switch_and_drain_waits_for_it(lab, fault_log):
    fault_log.set("nginx_upstream: requests in flight", f"a {LONG_REQUEST_S:.0f} s request on blue started "
                  "before the switch to green", "it completes with 200 from blue; drained=true is reported only "
                  "after the old workers (and so the request) are done")
    old_workers = lab.nginx.worker_pids()
    long_request = start_long_request(lab)
    result = lab.switch(active="green", drain_timeout=10)
    returned_at = time.monotonic()
    still_alive = {pid for pid in old_workers if process_alive(pid)}
    long_request.join()
    lab.backends["blue"].behaviour.delay_s = 0
    fault_log.runs = 1
    fault_log.measured.update({
        "status": long_request.status, "colour": long_request.colour, "drained": result.get("drained"),
        "drain_ms": (result.get("timings") or {}).get("drain_ms"),
        "response_ended_before_module_returned": (long_request.finished_at or 1e18) <= returned_at,
    })
    assert not result.failed, result
    assert long_request.error is None, long_request.error
    assert (long_request.status, long_request.colour) == (200, "blue")
    assert result["drained"] is True
    assert not still_alive, f"old workers {still_alive} still alive when the module said drained"
    assert long_request.finished_at <= returned_at, "the module returned before the long request ended"
    assert lab.live(10) == {"green": 10}


def test_drain_timeout_shorter_than_request(lab, fault_log):
    # Longer than the module's own run even on a loaded machine (interpreter start included), so the
    # request is certainly still open when drain_timeout=0.5 runs out.
    seconds = 3 * LONG_REQUEST_S
    fault_log.set("nginx_upstream: requests in flight", f"a {seconds:.0f} s request on blue, switch with "
                  "drain_timeout=0.5", "switch succeeds with drained=false and a warning; the request still "
                  "completes with 200 from blue")
    long_request = start_long_request(lab, seconds)
    result = lab.switch(active="green", drain_timeout=0.5)
    long_request.join()
    lab.backends["blue"].behaviour.delay_s = 0
    fault_log.runs = 1
    fault_log.measured.update({"status": long_request.status, "drained": result.get("drained"),
                               "warnings": result.get("warnings")})
    assert not result.failed, result
    assert result["drained"] is False
    # ansible-core 2.19 returns warnings as structured summaries: search their text.
    assert any("drain_timeout=0.5" in str(warning) for warning in result.get("warnings", [])), result
    assert long_request.error is None, long_request.error
    assert (long_request.status, long_request.colour) == (200, "blue")
    wait_for_single_generation(lab.nginx)
    assert lab.live(10) == {"green": 10}
