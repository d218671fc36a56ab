# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""progressive: a good release goes through every step; a bad one stops at the first and users barely saw it.

After converge (phase "good"): 2.0.0 was deployed to green with 3 steps under load, every
analysed step passed and green 2.0.0 is live. After side_effect (phase "bad"): 3.0.0, which
fails every 10th request once past its smoke test, was deployed to blue with the same steps;
the switch aborted at step 1, green is live everywhere, and the only errors the load client
saw came from blue while step 1 gave it a share.

Reads the recorded deploy runs (attempt_*.json), the load records (load_*.jsonl, one line per
request sent on the load balancer to its own listener), the managed upstream file and what the
listener answers now.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
pytest.register_assert_rewrite("molecule_checks")
from molecule_checks import assert_served_by, ephemeral, fatal_text, fetch, phase, recorded, upstream_state  # noqa: E402 - importable once molecule/shared is on sys.path

LB = testinfra.get_host("podman://sy-progressive-lb")
PHASE = phase("good")
STEP_RE = re.compile(r"^step (\d+) weight (\d+) % for [\d.]+ s: ")

good_only = pytest.mark.skipif(PHASE != "good", reason="after converge only")
bad_only = pytest.mark.skipif(PHASE != "bad", reason="after side_effect only")


def load_record(name: str) -> list[dict]:
    path = ephemeral() / f"load_{name}.jsonl"
    assert path.exists(), f"{path} is missing: did the load client run?"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def step_lines(attempt: dict) -> list[str]:
    return [m["msg"] for m in attempt["messages"] if isinstance(m["msg"], str) and STEP_RE.match(m["msg"])]


def is_error(record: dict) -> bool:
    return record["status"] == 0 or record["status"] >= 500


# --- Both phases: green 2.0.0 is what the router holds and serves -----------------------

def test_green_is_live_in_the_managed_file():
    _sha, meta = upstream_state(LB)
    assert meta["active"] == "green"
    # No split left behind: the last step (or the abort) leaves one colour with all the traffic.
    assert not meta.get("weights"), meta.get("weights")


def test_the_listener_serves_green_2_0_0():
    assert_served_by(fetch(LB, 80, count=20), "green", "2.0.0")


# --- After converge: the good release went through every step --------------------------

@good_only
def test_good_release_passed_every_step():
    attempt = recorded("attempt_good")
    assert attempt["rc"] == 0, fatal_text(attempt)
    lines = step_lines(attempt)
    assert [STEP_RE.match(line).group(1, 2) for line in lines] == [("1", "20"), ("2", "50"), ("3", "100")], lines
    assert lines[0].endswith(": pass") and lines[1].endswith(": pass"), lines
    result = next(iter(attempt["facts"]["switch_result"].values()))
    assert (result["previous"], result["live"], result["switched"]) == ("blue", "green", True)
    assert [step["verdict"] for step in result["steps"]] == ["pass", "pass", "not_analysed"]
    # The analysed steps were judged on real traffic at the target, not on an empty window.
    assert all(step["target_requests"] >= 20 for step in result["steps"][:2]), result["steps"]


@good_only
def test_users_saw_no_error_during_the_good_switch():
    records = load_record("good")
    assert records, "the load client sent nothing"
    assert not [r for r in records if is_error(r)]
    colours = [r["color"] for r in records]
    assert set(colours) == {"blue", "green"}
    # Blue until the steps began, green at the end: the load covered the whole switch.
    assert colours[0] == "blue"
    assert colours[-1] == "green"


# --- After side_effect: the bad release stopped at step 1 -----------------------------

@bad_only
def test_bad_release_aborted_at_the_first_step():
    attempt = recorded("attempt_bad")
    assert attempt["rc"] != 0
    text = fatal_text(attempt)
    assert "progressive switch to blue aborted at step 1 (weight 20 %)" in text, text
    assert "All traffic is back on green" in text, text
    lines = step_lines(attempt)
    assert len(lines) == 1, lines
    assert lines[0].startswith("step 1 weight 20 % ") and ": fail (" in lines[0], lines
    # The smoke test passed: the release only failed under real traffic.
    assert "Smoke test of blue FAILED" not in text


@bad_only
def test_users_saw_errors_only_from_blue_during_step_1():
    records = load_record("bad")
    errors = [r for r in records if is_error(r)]
    assert errors, "the load client saw no error: the bad release was never exercised"
    assert {r["color"] for r in errors} == {"blue"}
    to_blue = [i for i, r in enumerate(records) if r["color"] == "blue"]
    assert to_blue, "blue never got a share of the traffic"
    first, last = to_blue[0], to_blue[-1]
    # Blue had traffic in one window (step 1 at 20 %), a minority of it, then never again.
    assert first > 0 and records[0]["color"] == "green"
    window = records[first:last + 1]
    assert len(to_blue) < 0.5 * len(window), (len(to_blue), len(window))
    after = records[last + 1:]
    assert after, "the load client stopped before the abort put traffic back on green"
    assert {(r["status"], r["color"]) for r in after} == {(200, "green")}
    assert not [r for r in records[:first] if is_error(r)]
