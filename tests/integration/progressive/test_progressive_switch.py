# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progressive switch (bluegreen_steps) against a real nginx and a real HAProxy on loopback, under load.

A load client sends requests through the router for the whole run and records what each user got.
The bad release (green) answers 500 to every 10th request: it passes the switch role's precheck
(5 health requests) but not real traffic. The progressive switch must stop at its first step, put
every request back on blue, and users must have seen errors only from green during that step.
A good release goes through every step and ends on green. Steps pause 2 s so the tests stay short.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.progressive.lab import STEPS, Lab


@pytest.fixture(params=["nginx", "haproxy"])
def lab(request, tmp_path):
    box = Lab(tmp_path, request.param)
    yield box
    box.close()


def step_lines(stdout: str) -> list[str]:
    return re.findall(r'"msg": "(step \d+ weight \d+ %[^"]*)"', stdout)


def test_bad_release_aborts_at_the_first_step_and_users_saw_errors_only_there(lab):
    lab.green.behaviour.fail_every = 10  # 10 % of real requests fail; the precheck's 5 do not
    proc, records = lab.switch_under_load(STEPS)
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert "progressive switch to green aborted at step 1 (weight 20 %)" in proc.stdout, proc.stdout[-4000:]
    assert "max_error_rate 2.0 %" in proc.stdout
    lines = step_lines(proc.stdout)
    assert len(lines) == 1, lines
    assert lines[0].startswith("step 1 weight 20 % for 2 s: green ")
    assert lines[0].endswith(": fail (green error rate " + lines[0].split("(green error rate ", 1)[1])
    # All traffic is back on blue.
    assert lab.colours_now() == {"blue": 20}
    errors = [r for r in records if r[1] == 0 or r[1] >= 500]
    green = [r for r in records if r[2] == "green"]
    # Users saw errors, only from green, and green only ever had step 1's share.
    assert errors, "the load client saw no error: the bad release was never exercised"
    assert {r[2] for r in errors} == {"green"}
    assert len(green) < 0.5 * len(records)
    print(f"[{lab.router}] bad release: {len(records)} requests, {len(green)} to green, {len(errors)} errors "
          f"seen by users ({100 * len(errors) / len(records):.2f} %)")


def test_good_release_goes_through_every_step(lab):
    proc, records = lab.switch_under_load(STEPS)
    assert proc.returncode == 0, proc.stdout[-4000:]
    lines = step_lines(proc.stdout)
    assert [line.split(":", 1)[0] for line in lines] == [
        "step 1 weight 20 % for 2 s", "step 2 weight 50 % for 2 s", "step 3 weight 100 % for 0 s"], lines
    assert lines[0].endswith(": pass") and lines[1].endswith(": pass"), lines
    result = json.loads(re.search(r'"msg": "RESULT (\{.*\})"', proc.stdout).group(1).replace('\\"', '"'))
    assert result["live"] == "green"
    assert [step["verdict"] for step in result["steps"]] == ["pass", "pass", "not_analysed"]
    assert result["steps"][0]["colors"]["green"]["requests"] >= 10
    assert lab.colours_now() == {"green": 20}
    assert not [r for r in records if r[1] == 0 or r[1] >= 500]


def test_too_little_traffic_is_inconclusive_and_aborts_by_default(tmp_path):
    lab = Lab(tmp_path, "nginx")
    try:
        proc = lab.play(bluegreen_steps=[{"weight": 20, "pause": 1}], bluegreen_target_color="green",
                        bluegreen_steps_min_requests=1000)
        assert proc.returncode != 0
        assert "aborted at step 1 (weight 20 %): inconclusive: green had" in proc.stdout, proc.stdout[-4000:]
        assert "fewer than min_requests 1000" in proc.stdout
        assert lab.colours_now() == {"blue": 20}
    finally:
        lab.close()


def test_check_mode_shows_the_steps_and_moves_nothing(tmp_path):
    lab = Lab(tmp_path, "nginx")
    try:
        upstream = (lab.nginx.conf_d / "bluegreen_shop.conf").read_text()
        proc = lab.play("--check", bluegreen_steps=STEPS, bluegreen_target_color="green")
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert [line.split(":", 1)[0] for line in step_lines(proc.stdout)] == [
            "step 1 weight 20 % for 2 s", "step 2 weight 50 % for 2 s", "step 3 weight 100 % for 0 s"]
        assert (lab.nginx.conf_d / "bluegreen_shop.conf").read_text() == upstream
        assert lab.colours_now() == {"blue": 20}
    finally:
        lab.close()
