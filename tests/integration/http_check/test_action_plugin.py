# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""http_check's action plugin: on the controller the check runs in the worker process, elsewhere the module runs.

Each case runs the same task twice through ansible-playbook: with connection local (the action plugin runs the
check itself) and with become (the module is shipped and started, as on any managed host). The results must be
the same, and -vvv shows which path ran (only the module path executes an AnsiballZ payload).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.lib.modules import execute_playbook

PLAYBOOK = """\
- name: http_check both ways
  hosts: localhost
  gather_facts: false
  tasks:
    - name: In the worker process
      switchyard.bluegreen.http_check: "{{ check_args }}"
      register: here
      ignore_errors: true

    - name: As a module (become forces the module path)
      switchyard.bluegreen.http_check: "{{ check_args }}"
      become: true
      become_method: su
      register: shipped
      ignore_errors: true

    - name: Show both results
      ansible.builtin.debug:
        msg: "RESULTS {{ {'here': here, 'shipped': shipped} | to_json }}"
"""

# Keys that differ from run to run whichever path runs (timings), or only say how Ansible ran it.
VOLATILE = {"elapsed_ms", "latency_ms", "ready_ms", "invocation", "exception", "_ansible_no_log",
            "_ansible_verbose_always", "_ansible_delegated_vars", "warnings", "deprecations"}


def _run(tmp_path, check_args):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    proc = execute_playbook(playbook, extra_vars={"check_args": check_args}, args=["-vvv"])
    line = next((line for line in proc.stdout.splitlines() if "RESULTS " in line), None)
    assert line is not None, proc.stdout[-4000:]
    results = json.loads(line.split("RESULTS ", 1)[1].rstrip('"').encode().decode("unicode_escape"))
    return proc.stdout, results["here"], results["shipped"]


def _comparable(result):
    kept = {key: value for key, value in result.items() if key not in VOLATILE}
    if "summary" in kept:
        kept["summary"] = re.sub(r"latency ms [^;]*; ", "", kept["summary"])
    return kept


pytestmark = pytest.mark.skipif(shutil.which("su") is None, reason="su is needed to force the module path")


def test_a_passing_check_gives_the_same_result_both_ways(tmp_path, backend):
    server = backend("green", "2.0.0")
    output, here, shipped = _run(tmp_path, {"url": f"{server.url}/", "requests": 6, "concurrency": 2,
                                            "count_header": "X-App-Color",
                                            "expect_header_share": {"value": "green", "min": 1.0}})
    assert here["passed"] is True
    assert here["header_counts"] == {"X-App-Color": {"green": 6}} or here["header_counts"] == {"green": 6}
    assert _comparable(here) == _comparable(shipped)
    # Only the become task shipped and ran the module.
    assert output.count("AnsiballZ_http_check.py") > 0
    here_part = output.split("TASK [As a module", 1)[0]
    assert "AnsiballZ_http_check.py" not in here_part


def test_a_failing_check_fails_the_same_way(tmp_path):
    _output, here, shipped = _run(tmp_path, {"url": "http://127.0.0.1:1/", "requests": 2})
    assert here["failed"] is True
    assert shipped["failed"] is True
    assert here["msg"] == shipped["msg"]
    assert here["failure_kinds"] == shipped["failure_kinds"] == {"connection": 2}


def test_bad_input_is_refused_the_same_way(tmp_path):
    _output, here, shipped = _run(tmp_path, {"url": "http://127.0.0.1:1/", "urls": ["http://127.0.0.1:1/"]})
    assert here["failed"] is True
    assert "mutually exclusive" in here["msg"]
    assert "mutually exclusive" in shipped["msg"]

    _output, here, shipped = _run(tmp_path, {"url": "http://127.0.0.1:1/", "requests": 0})
    assert here["msg"] == shipped["msg"]
    assert "requests" in here["msg"]


def test_a_password_never_appears_in_the_output(tmp_path, backend):
    server = backend("blue")
    output, here, _shipped = _run(tmp_path, {"url": f"{server.url}/", "requests": 1, "url_username": "ops",
                                             "url_password": "s3cr3t-value-123", "force_basic_auth": True})
    assert here["passed"] is True
    assert "s3cr3t-value-123" not in output
