# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet: three load balancers switch all together, or none does.

Phase "rejected" (after converge): lb3 holds a file nginx rejects, the deploy of 2.0.0
failed in the validation phase. Phase "switched" (after side_effect): lb3 repaired, the
deploy switched all three. Checks on what was recorded while converging run in both
phases; checks on the containers' live state follow the phase.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from molecule_checks import UPSTREAM_FILE, ephemeral, fatal_text, fetch, phase, recorded, upstream_state

LBS = ["sy-fleet-lb1", "sy-fleet-lb2", "sy-fleet-lb3"]
HOSTS = {name: testinfra.get_host(f"podman://{name}") for name in LBS}
PHASE = phase("rejected")
LIVE = {"rejected": ("blue", "1.0.0"), "switched": ("green", "2.0.0")}[PHASE]
switched_only = pytest.mark.skipif(PHASE != "switched", reason="checked after side_effect (phase switched)")
rejected_only = pytest.mark.skipif(PHASE != "rejected", reason="checked after converge (phase rejected)")


# --- The rejected switch (recorded while converging) ---------------------------------

def test_rejected_deploy_failed_naming_lb3_and_nginx_error():
    attempt = recorded("attempt_rejected")
    assert attempt["rc"] != 0
    text = " ".join(fatal_text(attempt).split())
    assert "nginx rejected the switch to green, so no load balancer was switched" in text
    assert "sy-fleet-lb3" in text
    assert 'unknown directive "proxy_buffring"' in text
    assert "sy-fleet-lb1:" not in text and "sy-fleet-lb2:" not in text


@pytest.mark.parametrize("lb", LBS)
def test_no_load_balancer_switched_or_reloaded(lb):
    before = recorded("snapshot_before")[lb]
    after = recorded("snapshot_after_rejected")[lb]
    assert before["active"] == after["active"] == "blue"
    assert after["colors"] == {"blue": 20}
    assert after["statuses"] == {"200": 20}
    # Same worker processes: nginx was not reloaded on any host.
    assert after["workers"] == before["workers"]


@pytest.mark.parametrize("lb", LBS)
def test_every_staged_change_was_restored(lb):
    before = recorded("snapshot_before")[lb]
    after = recorded("snapshot_after_rejected")[lb]
    assert after["sha256"] == before["sha256"]
    # Every file nginx loads from conf.d is byte for byte what it was, and no staged candidate is left over.
    loaded = {path: sha for path, sha in after["conf_d"].items() if path.endswith(".conf")}
    assert loaded == {path: sha for path, sha in before["conf_d"].items() if path.endswith(".conf")}
    assert set(after["conf_d"]) - set(before["conf_d"]) <= {UPSTREAM_FILE + ".previous"}


@rejected_only
def test_lb3_configuration_really_is_invalid():
    # Not vacuous: nginx -t does reject lb3's configuration on disk.
    result = HOSTS["sy-fleet-lb3"].run("nginx -t")
    assert result.rc != 0
    assert "proxy_buffring" in result.stderr


# --- The live state of every load balancer (phase dependent) -------------------------

@pytest.mark.parametrize("lb", LBS)
def test_load_balancer_serves_the_live_colour(lb):
    colour, version = LIVE
    answers = fetch(HOSTS[lb], 80)
    assert {a["status"] for a in answers} == {200}
    assert {a["x-app-color"] for a in answers} == {colour}
    assert {a["x-app-version"] for a in answers} == {version}


@pytest.mark.parametrize("lb", LBS)
def test_managed_file_names_the_live_colour_and_nginx_runs_it(lb):
    host = HOSTS[lb]
    _unused, meta = upstream_state(host)
    assert meta["active"] == LIVE[0]
    if PHASE == "rejected" and lb == "sy-fleet-lb3":
        return  # nginx -T fails there on purpose (test_lb3_configuration_really_is_invalid); the pids prove no reload
    content = host.file(UPSTREAM_FILE).content_string
    assert f"# configuration file {UPSTREAM_FILE}:\n{content}" in host.check_output("nginx -T 2>/dev/null") + "\n"


# --- The switch with every load balancer healthy (after side_effect) ------------------

@switched_only
def test_healthy_deploy_switched_all_three():
    attempt = recorded("attempt_healthy")
    assert attempt["rc"] == 0, fatal_text(attempt)
    result = next(iter(attempt["facts"]["switch_result"].values()))
    assert result["switched"] is True
    assert (result["previous"], result["live"]) == ("blue", "green")
    timings = result["router_timings"]
    assert sorted(t["host"] for t in timings) == LBS
    assert all(t["changed"] and not t["failed"] for t in timings)


@switched_only
@pytest.mark.parametrize("lb", LBS)
def test_every_load_balancer_reloaded_with_the_new_file(lb):
    before = recorded("snapshot_after_rejected")[lb]
    after = recorded("snapshot_after_switch")[lb]
    assert not set(after["workers"]) & set(before["workers"])
    assert after["sha256"] != before["sha256"]
    assert after["colors"] == {"green": 20}


def _worker_start_s(host) -> float:
    """When the current nginx worker generation started, in seconds since boot.

    The containers share the host's kernel, so these clocks are comparable across them.
    """
    ticks = int(host.check_output("getconf CLK_TCK"))
    starts = []
    for pid in host.check_output("pgrep -f '^nginx: worker process'").split():
        stat = host.file(f"/proc/{pid}/stat").content_string
        starts.append(int(stat.rsplit(")", 1)[1].split()[19]) / ticks)  # field 22: starttime
    assert starts, f"no nginx worker on {host}"
    return min(starts)


@switched_only
def test_measured_skew_between_first_and_last_load_balancer(record_property):
    # Measured by the scenario itself from the kernel's process start times (10 ms
    # resolution), independent of what the switch role reports (next test).
    starts = {lb: _worker_start_s(HOSTS[lb]) for lb in LBS}
    skew = max(starts.values()) - min(starts.values())
    first = min(starts, key=starts.get)
    last = max(starts, key=starts.get)
    record = {"first": first, "last": last, "skew_s": round(skew, 3),
              "worker_start_s": {lb: round(s, 2) for lb, s in starts.items()}}
    (ephemeral() / "fleet_skew.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"reload skew first {first} -> last {last}: {skew:.3f} s")
    record_property("kernel_reload_skew_s", round(skew, 3))  # kept in the JUnit XML of make test
    # All three generations started during the healthy deploy's run.
    assert skew <= recorded("attempt_healthy")["duration_s"]


@switched_only
def test_switch_result_reports_the_reload_skew(record_property):
    result = next(iter(recorded("attempt_healthy")["facts"]["switch_result"].values()))
    assert "reload_skew_s" in result
    assert 0 <= float(result["reload_skew_s"]) <= float(result["duration_s"])
    # Every load balancer reported the moment it served the new configuration.
    assert sorted(t["host"] for t in result["router_timings"]) == sorted(LBS)
    assert all(t["applied_at"] for t in result["router_timings"]), result["router_timings"]
    record_property("reported_reload_skew_s", result["reload_skew_s"])
    record_property("switch_duration_s", result["duration_s"])
