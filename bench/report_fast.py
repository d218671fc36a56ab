# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The benchmarks page's sections for issues #16 (instant rollback) and #17 (a fleet of load balancers).

Where a playbook's seconds go (bench/timeline.py), the playbooks against the template+reload peer, the
same playbooks over SSH, the fleet table, and the goals, each marked met or not met from the numbers
of this run (a goal whose figure was not measured in this run says so; nothing here is assumed).
"""

from __future__ import annotations

import statistics

import timeline

# (figure, goal text, limit, how to compare). The figures are computed by goal_figures() below.
GOALS = (
    ("rollback_all_new_after_s", "`rollback.yml` all new after (s)", 1.0, "le", "#16"),
    ("rollback_wall_s", "`rollback.yml` wall time (s)", 2.0, "le", "#16"),
    ("switch_wall_s", "`switch.yml` wall time (s)", 3.0, "le", "#16"),
    ("rollback_template_ratio", "ratio `rollback.yml` / template+reload peer, wall time", 0.5, "le", "#16"),
    ("ssh_rollback_wall_s", "`rollback.yml` over SSH to 3 LBs, wall time (s)", 2.5, "le", "#16"),
    ("ssh_switch_wall_s", "`switch.yml` over SSH to 3 LBs, wall time (s)", 4.0, "le", "#16"),
    ("fleet_skew_10_ms", "skew first to last LB at N = 10, two-phase (ms, median)", 50.0, "le", "#17"),
    ("fleet_wall_growth", "wall time growth from N = 3 to N = 10, two-phase", 0.5, "lt", "#17"),
)


# The floor of issue #16 (bench/peers/): ansible-playbook's start-up and exit, and the least content doing
# rollback.yml's checks for nginx.
FLOOR_PLAYBOOKS = ("floor_start.yml", "minimal_rollback.yml")


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def _f(value, digits=2, unit=""):
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _playbooks(run):
    result = next((r for r in run.get("analysis", []) if r["key"] == "playbooks"), None)
    return (result or {}).get("summary", {}).get("per_playbook") or {}


def _template(run):
    result = next((r for r in run.get("analysis", []) if r["key"] == "template"), None)
    return result["summary"] if result else None


def _one_line(text):
    return " ".join(str(text).split()).replace("`", "'").replace("|", "/")[:400]


def _median_of(stat):
    return stat["median"] if stat else None


def ssh_summary(run):
    """Per playbook over SSH: wall, all new after, where the seconds go (from the raw runs)."""
    ssh = run.get("ssh") or {}
    if not ssh.get("ran"):
        return {}
    found = {}
    for name in ("switch.yml", "rollback.yml", *FLOOR_PLAYBOOKS):
        mine = [r for r in ssh.get("runs", []) if r["playbook"] == name]
        if not mine:
            continue
        done = [r for r in mine if r["ok"]]
        found[name] = {"runs": len(mine), "failed": len(mine) - len(done),
                       "wall_s": _stats([r["wall_s"] for r in done]),
                       "all_new_after_s": _stats([r.get("all_new_after_s") for r in done]),
                       "where": timeline.aggregate([r["timeline"] for r in done if r.get("timeline")])}
    return found


def fleet_rows(run):
    """(n, method) -> {wall, skew stats, reported skew, runs, failed}."""
    fleet = run.get("fleet") or {}
    rows = {}
    for record in fleet.get("runs", []):
        rows.setdefault((record["n"], record["method"]), []).append(record)
    table = {}
    for (n, method), records in sorted(rows.items()):
        done = [r for r in records if r["ok"]]
        table[(n, method)] = {
            "runs": len(records), "failed": len(records) - len(done),
            "wall_s": _stats([r["wall_s"] for r in done]),
            "skew_ms": _stats([1000 * r["skew_s"] for r in done if r.get("skew_s") is not None]),
            "reported_skew_ms": _stats([1000 * float(r["reported_skew_s"]) for r in done
                                        if r.get("reported_skew_s") not in (None, "", "None")]),
            "module_s": _stats([(r.get("timeline_summary") or {}).get("module_s") for r in done]),
        }
    return table


def goal_figures(run):
    """Every goal's figure from this run, or None when it was not measured."""
    local = _playbooks(run)
    template = _template(run)
    ssh = ssh_summary(run)
    fleet = fleet_rows(run)
    rollback_wall = _median_of((local.get("rollback.yml") or {}).get("wall_s"))
    template_wall = _median_of((template or {}).get("wall_s", {}).get("all"))
    wall3 = _median_of((fleet.get((3, "two-phase")) or {}).get("wall_s"))
    wall10 = _median_of((fleet.get((10, "two-phase")) or {}).get("wall_s"))
    return {
        "rollback_all_new_after_s": _median_of((local.get("rollback.yml") or {}).get("all_new_after_s")),
        "rollback_wall_s": rollback_wall,
        "switch_wall_s": _median_of((local.get("switch.yml") or {}).get("wall_s")),
        "rollback_template_ratio": rollback_wall / template_wall if rollback_wall and template_wall else None,
        "ssh_rollback_wall_s": _median_of((ssh.get("rollback.yml") or {}).get("wall_s")),
        "ssh_switch_wall_s": _median_of((ssh.get("switch.yml") or {}).get("wall_s")),
        "fleet_skew_10_ms": _median_of((fleet.get((10, "two-phase")) or {}).get("skew_ms")),
        "fleet_wall_growth": (wall10 / wall3 - 1) if wall3 and wall10 else None,
    }


def goals_section(run):
    figures = goal_figures(run)
    lines = ["## Goals of issues #16 and #17", "",
             "Each figure is this run's median; *met* / *not met* is computed from it, *not measured* means the "
             "phase that gives it was not part of this run (or failed: see its section).", "",
             "| issue | figure | this run | goal | |", "|---|---|---:|---:|---|"]
    for key, text, limit, how, issue in GOALS:
        value = figures[key]
        if value is None:
            verdict, shown = "not measured", "-"
        else:
            # Judged on the number as shown (float noise such as 50.0000001 ms must not decide it).
            if key == "fleet_wall_growth":
                value, shown = round(value, 2), f"{100 * value:.0f} %"
            elif key.endswith("_ms"):
                value, shown = round(value), f"{value:.0f}"
            else:
                value, shown = round(value, 2), f"{value:.2f}"
            ok = value <= limit if how == "le" else value < limit
            verdict = "met" if ok else "**not met**"
        shown_limit = f"{100 * limit:.0f} %" if key == "fleet_wall_growth" else f"{limit:g}"
        goal = f"{'≤' if how == 'le' else '<'} {shown_limit}"
        lines.append(f"| {issue} | {text} | {shown} | {goal} | {verdict} |")
    lines.append("")
    return lines


def peer_section(run):
    """Both playbooks against the template+reload peer: wall and all-new-after, in seconds and as ratios."""
    local = _playbooks(run)
    if not local:
        return []
    template = _template(run)
    t_wall = _median_of((template or {}).get("wall_s", {}).get("all"))
    t_new = _median_of((template or {}).get("all_new_after_s"))
    lines = ["## The playbooks against the template + reload peer", "",
             "Medians of this run, connection local, under the same load. *All new after*: from the launch of "
             "`ansible-playbook` until every request sent later reached the target colour. Ratios are to the "
             "template + reload peer (bench/peers/template_switch.yml: one template task and two handlers)"
             + ("." if template else "; the peer was not run in this run (`--only`), so no ratios."), "",
             "| playbook | runs (failed) | wall (s) | wall / peer | all new after (s) | all new after / peer |",
             "|---|---:|---:|---:|---:|---:|"]
    if template:
        lines.append(f"| template + reload handler (peer) | {template['switches']} ({template['failed_switches']}) | "
                     f"{_f(t_wall)} | 1 | {_f(t_new)} | 1 |")
    for name in ("switch.yml", "rollback.yml"):
        info = local.get(name)
        if not info:
            continue
        wall, new = _median_of(info["wall_s"]), _median_of(info["all_new_after_s"])
        lines.append(f"| `{name}` | {info['runs']} ({info['failed']}) | {_f(wall)} | "
                     f"{_f(wall / t_wall if wall and t_wall else None)} | {_f(new)} | "
                     f"{_f(new / t_new if new and t_new else None)} |")
    lines.append("")
    return lines


def where_table(title, where):
    """One playbook's "where the seconds go" table under a ### ``title``."""
    if not where:
        return [f"### {title}", "", "No timeline was recorded for this playbook in this run.", ""]
    s = where["summary"]
    lines = [f"### {title} ({s['runs']} runs, medians)", "",
             "| step | ms | module's own ms |", "|---|---:|---:|",
             f"| Ansible start-up: interpreter, imports, CLI, inventory (launch until the callback loads) | "
             f"{_f(_ms(s['startup_s']), 0)} | |",
             f"| playbook and play loading (until the first task starts) | {_f(_ms(s['load_s']), 0)} | |"]
    skipped = [row for row in where["tasks"] if not row["ran_in"]]
    for row in where["tasks"]:
        if not row["ran_in"]:
            continue
        label = f"{row['role'].split('.')[-1] + ' : ' if row['role'] else ''}" \
                f"{row['name'].split(' : ', 1)[-1]}"
        label = label.replace("|", "/")
        if len(label) > 80:
            label = label[:77] + "..."
        note = f" ({row['action'].split('.')[-1]}" + (f", {row['hosts']} hosts" if row["hosts"] > 1 else "") + \
            (f", ran in {row['ran_in']} of {row['runs']} runs" if row["ran_in"] < s["runs"] else "") + ")"
        lines.append(f"| {label}{note} | {row['span_ms']:.0f} | {_f(row['module_ms'], 0)} |")
    if skipped:
        total = sum(row["span_ms"] for row in skipped)
        lines.append(f"| {len(skipped)} tasks skipped on every host (their conditions evaluated) | {total:.0f} | |")
    lines += [f"| after the last task (stats, exit) | {_f(_ms(s['after_s']), 0)} | |",
              f"| **wall time** | **{_f(_ms(s['wall_s']), 0)}** | **{_f(_ms(s['module_s']), 0)}** |", "",
              f"Module-internal time (the modules' own `timings.total_ms` / `elapsed_ms`) "
              f"**{_f(s['module_s'])} s** of **{_f(s['wall_s'])} s**; Ansible overhead (start-up, task "
              f"scheduling, templating, module transfer and interpreter start-up, conditions, exit) "
              f"**{_f(s['overhead_s'])} s**. http_check: {_f(s['http_check_s'])} s of its own time in tasks that "
              f"took {_f(s['http_check_span_s'])} s. Tasks: {s['tasks_run']:.0f} ran, {s['tasks_skipped']:.0f} "
              f"skipped ({_f(_ms(s['skipped_span_s']), 0)} ms).", ""]
    return lines


def _ms(seconds):
    return None if seconds is None else 1000 * seconds


def where_section(run):
    local = _playbooks(run)
    if not local:
        return []
    lines = ["## Where the seconds go (connection local)", "",
             "From the `bench_timeline` callback (bench/callback_plugins/, enabled only by the benchmark) and the "
             "launch and exit of `ansible-playbook` (bench/timeline.py). A task's row runs from its start to the "
             "next task's start, so what Ansible does between two tasks (includes, conditions) is in the row of "
             "the task before and the rows add up to the wall time. *Module's own ms*: what the module measured "
             "itself (nginx_upstream `timings.total_ms`, http_check `elapsed_ms`), without its interpreter "
             "start-up and Ansible's transfer; the slowest host's when several ran it. A two-phase commit's own "
             "time includes its wait until the agreed `commit_at` instant.", ""]
    for name in ("switch.yml", "rollback.yml"):
        if name in local:
            lines += where_table(f"`{name}`", local[name]["where"])
    return lines


def ssh_section(run):
    ssh = run.get("ssh")
    lines = ["## The same playbooks over SSH (3 load balancers)", ""]
    if not ssh:
        return [*lines, "Not part of this run" + (" (`--only`)." if run.get("only") else "."), ""]
    if not ssh.get("ran"):
        return [*lines, f"Not measured: {ssh.get('reason', 'no results')}.", ""]
    per = ssh_summary(run)
    settings = ssh.get("settings", {})
    lines += [f"{ssh['lbs']} load-balancer containers ({ssh.get('image', '?')}), each with sshd and nginx, reached "
              "with " + ", ".join(f"`{k}={v}`" for k, v in settings.items() if not k.startswith("masters"))
              + f". The blue and green backends: {ssh.get('backends', '?')}. "
              + ("The SSH master connections are closed before every run, so each run pays its own handshakes, "
                 "as a fresh AWX job does. ")
              + (f"A light load client (bench/load_client.py, a new connection per request, "
                 f"{ssh['load']['rate']:g} requests/s) sends to {ssh['load']['target']} throughout, for *all new "
                 f"after* ({ssh['load'].get('requests', '?')} requests, {ssh['load'].get('errors', '?')} without an "
                 "answer)." if ssh.get("load") else "No load client, so no *all new after*."), "",
              "| playbook | runs (failed) | wall (s, min / median / max) | all new after (s, median) |",
              "|---|---:|---:|---:|"]
    for name in ("switch.yml", "rollback.yml"):
        info = per.get(name)
        if not info:
            continue
        wall = info["wall_s"]
        lines.append(f"| `{name}` | {info['runs']} ({info['failed']}) | "
                     + (" / ".join(f"{wall[k]:.2f}" for k in ("min", "median", "max")) if wall else "-")
                     + f" | {_f(_median_of(info.get('all_new_after_s')))} |")
    lines.append("")
    for failure in [r for r in ssh.get("runs", []) if not r["ok"]][:3]:
        lines += [f"A failed run ({failure['playbook']}): `{_one_line(failure.get('msg', ''))}`", ""]
    if ssh.get("stopped"):
        lines += [f"The phase stopped early: {ssh['stopped']}.", ""]
    for name in ("switch.yml", "rollback.yml"):
        if name in per and per[name].get("where"):
            lines += where_table(f"`{name}` over SSH", per[name]["where"])
    return lines


def fleet_section(run, images):
    fleet = run.get("fleet")
    lines = ["## A fleet of load balancers over SSH: wall time and skew", ""]
    if not fleet:
        return [*lines, "Not part of this run" + (" (`--only`)." if run.get("only") else "."), ""]
    if not fleet.get("ran"):
        return [*lines, f"Not measured: {fleet.get('reason', 'no results')}.", ""]
    lines += ["`switch.yml` back and forth across N load-balancer containers over SSH "
              f"({fleet.get('settings', '')}). *Skew*: from the first to the last load balancer serving the new "
              "colour, from the start times of each one's new nginx worker processes (the kernel's "
              "`/proc/<pid>/stat` start time, 10 ms resolution; the containers share the host's kernel and "
              "clock), not from the "
              "module's own report (shown next to it). *two-phase*: the switch role's stage on every LB, then "
              "commit at one `commit_at` instant (`switch_two_phase: true`); *one-by-one*: "
              "`switch_two_phase: false`, each LB reloads when Ansible's fork reaches it. *The modules' own time*: "
              "the sum over the run's tasks of the slowest host's own `timings` (a commit's includes its wait "
              "until `commit_at`).", "",
              "| N | method | runs (failed) | wall (s, median) | of which the modules' own time (s) "
              "| skew (ms, median / max) | skew reported by the role (ms, median) |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for (n, method), row in fleet_rows(run).items():
        skew = row["skew_ms"]
        lines.append(f"| {n} | {method} | {row['runs']} ({row['failed']}) | {_f(_median_of(row['wall_s']))} | "
                     f"{_f(_median_of(row['module_s']))} | "
                     + (f"{skew['median']:.0f} / {skew['max']:.0f}" if skew else "-")
                     + f" | {_f(_median_of(row['reported_skew_ms']), 0)} |")
    lines.append("")
    for note in fleet.get("notes", []):
        lines += [f"- {note}"]
    if fleet.get("notes"):
        lines.append("")
    for failure in [r for r in fleet.get("runs", []) if not r["ok"]][:3]:
        lines += [f"A failed run (N = {failure['n']}, {failure['method']}): `{_one_line(failure.get('msg', ''))}`",
                  ""]
    if "fleet" in images:
        lines += ["![skew against N](" + images["fleet"] + ")", ""]
    return lines


def draw_fleet(run, path):
    """Skew (median, with min-max bars) against N, one line per method; False when nothing to draw."""
    rows = fleet_rows(run)
    if not any(r["skew_ms"] for r in rows.values()):
        return False
    import matplotlib  # noqa: PLC0415 - requirements-bench.txt

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (axis, walls) = plt.subplots(1, 2, figsize=(10, 4))
    sizes = sorted({key[0] for key in rows})
    for method, colour in (("two-phase", "#2e9e44"), ("one-by-one", "#d62728")):
        mine = sorted((key[0], row) for key, row in rows.items() if key[1] == method)
        skews = [(n, row["skew_ms"]) for n, row in mine if row["skew_ms"]]
        if skews:
            err = [[s["median"] - s["min"] for n, s in skews], [s["max"] - s["median"] for n, s in skews]]
            axis.errorbar([n for n, s in skews], [s["median"] for n, s in skews], yerr=err, marker="o", capsize=4,
                          color=colour, label=f"{method} (median, min-max)")
        wall = [(n, row["wall_s"]["median"]) for n, row in mine if row["wall_s"]]
        if wall:
            walls.plot([n for n, w in wall], [w for n, w in wall], marker="o", color=colour, label=method)
    axis.axhline(50, color="#555555", linestyle=":", linewidth=1, label="goal at N = 10: 50 ms")
    axis.set_xlabel("load balancers (N)")
    axis.set_ylabel("skew first to last LB (ms, 10 ms resolution)")
    axis.set_xticks(sizes)
    axis.set_title("Skew: first to last LB serving the new colour", fontsize=10)
    axis.legend(fontsize=8)
    walls.set_xlabel("load balancers (N)")
    walls.set_ylabel("switch.yml wall time (s, median)")
    walls.set_xticks(sizes)
    walls.set_ylim(bottom=0)
    walls.set_title("Wall time of the whole switch", fontsize=10)
    walls.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def how_lines(run):
    """The "How it was measured" lines of the SSH and fleet phases."""
    lines = []
    for name in ("ssh", "fleet"):
        phase = run.get(name) or {}
        if phase.get("ran"):
            sizes = sorted(phase.get("lab_s", {}).items(), key=lambda item: int(item[0]))
            labs = ", ".join(f"N = {n}: {seconds:g} s" for n, seconds in sizes)
            failed = "; ".join(f"N = {f['n']} attempt {f['attempt']}: {_one_line(f['error'])[:160]}"
                               for f in phase.get("lab_failures", []))
            if failed:
                lines.append(f"- Lab start-ups that failed and were retried once: {failed}.")
            lines.append(f"- The SSH and fleet phases: `{phase['command']}`, {phase['elapsed_s']:.0f} s in all "
                         f"(each fleet's start, nginx role, runs and removal: {labs}); podman containers from "
                         "tests/lib/sshfleet.py on one podman network of this machine, every run timed from the "
                         "launch of `ansible-playbook` to its exit.")
            break
    return lines


# --------------------------------------------------------------------------- the floor of issue #16

# The floor's tasks by module, in the order minimal_rollback.yml runs them (an action that runs twice is
# named by its turn): what each one is in the "held back by" column.
FLOOR_STEPS = {
    ("nginx_upstream_info", 1): "read",
    ("set_fact", 1): "decide",
    ("http_check", 1): "liveness probe",
    ("nginx_upstream", 1): "apply",
    ("http_check", 2): "verification",
    ("set_stats", 1): "publish",
}


def floor_start_local(run):
    """floor_start.yml in the playbooks phase (run between two switches): wall stats and timeline aggregate."""
    phase = next((p for p in run.get("phases", []) if p.get("key") == "playbooks"), None)
    found = [s["between"] for s in (phase or {}).get("switches", [])
             if (s.get("between") or {}).get("playbook") == "floor_start.yml"]
    if not found:
        return None
    done = [r for r in found if r.get("ok")]
    return {"runs": len(found), "failed": len(found) - len(done), "wall_s": _stats([r["wall_s"] for r in done]),
            "where": timeline.aggregate([r["timeline"] for r in done if r.get("timeline")])}


def floor_steps(where):
    """[(label, span ms, module's own ms)] of minimal_rollback.yml's timeline, with start-up and exit; or []."""
    if not where:
        return []
    s = where["summary"]
    steps = [("start-up", _ms(s["first_task_s"]), None)]
    turns = {}
    for row in where["tasks"]:
        if not row["ran_in"]:
            continue  # the rescue: only on a failure
        action = row["action"].split(".")[-1]
        turns[action] = turns.get(action, 0) + 1
        steps.append((FLOOR_STEPS.get((action, turns[action]), row["name"]), row["span_ms"], row["module_ms"]))
    steps.append(("exit", _ms(s["after_s"]), None))
    return steps


def _steps_text(steps, until=None):
    """'start-up 461 ms + read 490 ms + ... ' up to and including step ``until``."""
    parts = []
    for label, span, own in steps:
        if span is None:
            continue
        text = f"{label} {'round trip ' if label in ('read', 'apply') else ''}{span:.0f} ms"
        if label == "apply" and own is not None:
            text += f" (module's own {own:.0f})"
        parts.append(text)
        if label == until:
            break
    return " + ".join(parts) or "-"


def floor_figures(run):
    """The floor's figures of this run (None where not measured)."""
    local = _playbooks(run)
    ssh = ssh_summary(run)
    start = floor_start_local(run)
    minimal = local.get("minimal_rollback.yml") or {}
    ssh_start = ssh.get("floor_start.yml") or {}
    ssh_minimal = ssh.get("minimal_rollback.yml") or {}
    template_wall = _median_of(((_template(run) or {}).get("wall_s") or {}).get("all"))
    return {
        "start": _median_of((start or {}).get("wall_s")), "start_runs": start,
        "minimal": _median_of(minimal.get("wall_s")), "minimal_new": _median_of(minimal.get("all_new_after_s")),
        "minimal_where": minimal.get("where"), "minimal_runs": minimal,
        "ssh_start": _median_of(ssh_start.get("wall_s")), "ssh_minimal": _median_of(ssh_minimal.get("wall_s")),
        "ssh_minimal_new": _median_of(ssh_minimal.get("all_new_after_s")),
        "ssh_minimal_where": ssh_minimal.get("where"),
        "ssh_runs": (ssh_start, ssh_minimal), "template": template_wall,
        "local": local, "ssh": ssh,
    }


def _verdict(floor, limit):
    if floor is None:
        return "floor not measured"
    if round(floor, 2) > limit:
        return f"**below the floor**: the floor alone needs {floor:.2f}"
    return f"above the floor ({floor:.2f}): the rest is content"


def kept_checks(where, floor_where):
    """[(label, ms)]: what the playbook's run spent on the checks issue #16 keeps and the floor leaves out.

    From the playbook's own per-task timeline: the roles' argument validation, every "Refuse ..." (bad input,
    a dead or unclear target, the database guard), the smoke test (switch.yml), the stage of an all-or-none
    switch and the commit's wait for its instant beyond the floor's apply, and the condition of the switch back.
    """
    if not where:
        return []
    runs = where["summary"]["runs"] or 1
    # A row's median span, weighted by the share of runs it ran in: a switch alternates its target, so
    # "Check green" and "Check blue" each ran in some of the runs, and one run has only one of them.
    ran = [dict(row, span_ms=row["span_ms"] * row["ran_in"] / runs) for row in where["tasks"] if row["ran_in"]]

    def name(row):
        return row["name"].split(" : ", 1)[-1]

    floor_apply = next((step[1] for step in floor_steps(floor_where) if step[0] == "apply"), None)
    found = []
    validation = [row["span_ms"] for row in ran if row["action"].endswith("validate_argument_spec")]
    if validation:
        found.append((f"argument validation ({len(validation)} role{'s' if len(validation) > 1 else ''})",
                      sum(validation)))
    refusals = [row["span_ms"] for row in ran
                if name(row).startswith("Refuse") and not (row["role"] or "").endswith("smoke_test")]
    if refusals:
        found.append((f"{len(refusals)} refusals (the tasks named Refuse ...)", sum(refusals)))
    smoke = [row["span_ms"] for row in ran
             if (row["role"] or "").endswith("smoke_test") and not row["action"].endswith("validate_argument_spec")]
    if smoke:
        found.append(("smoke test of the target (its argument validation is counted above)", sum(smoke)))
    stage = [row["span_ms"] for row in ran if name(row).startswith(("Stage the", "Write and test the new file"))]
    if stage:
        found.append(("all or none: the stage round trip", sum(stage)))
    commit = [row["span_ms"] for row in ran if name(row).startswith("Commit on every load balancer")]
    if commit and floor_apply is not None and max(commit) > floor_apply:
        found.append(("all at one instant: the commit's wait beyond the floor's apply", max(commit) - floor_apply))
    back = [row["span_ms"] for row in where["tasks"] if name(row).startswith("Switch back after a failed verification")]
    if back:
        found.append(("the switch back's condition", max(back)))
    return found


def kept_checks_section(f, figures):
    """The floor plus what the playbook's own run spent on the checks the issue keeps, against each goal.

    ``f``: floor_figures(run); ``figures``: goal_figures(run).
    """
    goals = {key: (text, limit) for key, text, limit, _how, _issue in GOALS}
    rows = [
        ("rollback_wall_s", f["minimal"], f["local"].get("rollback.yml"), f["minimal_where"]),
        ("switch_wall_s", f["minimal"], f["local"].get("switch.yml"), f["minimal_where"]),
        ("ssh_rollback_wall_s", f["ssh_minimal"], f["ssh"].get("rollback.yml"), f["ssh_minimal_where"]),
        ("ssh_switch_wall_s", f["ssh_minimal"], f["ssh"].get("switch.yml"), f["ssh_minimal_where"]),
    ]
    table = []
    for key, floor, playbook, floor_where in rows:
        text, limit = goals[key]
        measured = figures[key]
        checks = kept_checks((playbook or {}).get("where"), floor_where)
        if floor is None or not checks:
            continue
        total = floor + sum(ms for _label, ms in checks) / 1000
        listed = " + ".join(f"{label} {ms:.0f} ms" for label, ms in checks)
        if round(total, 2) > limit:
            verdict = f"**held back**: the floor and the kept checks alone need {total:.2f}"
        else:
            rest = f"; the other {measured - total:.2f} s is the role's structure" if measured is not None else ""
            verdict = f"within reach ({total:.2f}){rest}"
        table.append(f"| {text} | ≤ {limit:g} | {_f(measured)} | {_f(floor)} | {listed} | {total:.2f} | {verdict} |")
    if not table:
        return []
    return ["### The floor plus the checks the issue keeps", "",
            "Issue #16 keeps every check: the liveness probe and the verification (in the floor), the all-or-none "
            "apply across load balancers, the automatic switch back, and the roles' argument specs; `switch.yml` keeps "
            "its smoke test. The floor leaves the others out, so each is added here at what it cost in the "
            "playbook's own run (its per-task timeline below, medians).", "",
            "| figure | goal | playbook | floor (`minimal_rollback.yml`) | the kept checks, measured in the playbook's "
            "run | floor + kept checks | |", "|---|---:|---:|---:|---|---:|---|", *table, ""]


def floor_section(run):
    """For each #16 goal: the playbook's figure, the floor measured in the same run, and what holds it back."""
    lines = ["## What the goals of instant rollback are up against", ""]
    f = floor_figures(run)
    if f["start"] is None and f["minimal"] is None and f["ssh_start"] is None and f["ssh_minimal"] is None:
        return [*lines, "The floor (bench/peers/floor_start.yml, bench/peers/minimal_rollback.yml) was not measured in "
                "this run" + (" (`--only`)." if run.get("only") else " (a run from before the floor was added)."), ""]
    figures = goal_figures(run)
    local = _playbooks(run)
    steps, ssh_steps = floor_steps(f["minimal_where"]), floor_steps(f["ssh_minimal_where"])

    def ratio(value):
        return value / f["template"] if value is not None and f["template"] else None

    lines += ["Two benchmark-only playbooks set the floor any `ansible-playbook` rollback stands on, measured in the "
              "same phases as the playbooks, in turn with them and under the same load: `floor_start.yml` is one play "
              "on the load balancers with no task (ansible-playbook's start-up, inventory, playbook loading and exit), "
              "`minimal_rollback.yml` the least content doing `rollback.yml`'s checks for nginx, flat, no role: read "
              "the managed upstream, decide the target in one `set_fact`, liveness-probe the target (http_check, "
              "delegated, once), `nginx_upstream` (write, `nginx -t`, reload, drain), verify through the public URL "
              "(http_check, share of the colour header), `set_stats`. It is a floor, not a replacement: over several "
              "load balancers it applies on each one by one, without validate-everywhere-first or a two-phase "
              "commit, without the database guard or the timing facts. *Held back by*: the floor's own steps, medians "
              "of its per-task timeline in this run (a task runs from its start to the next one's; a *round trip* is "
              "Ansible's module transfer and interpreter start-up plus the module's work; over SSH the first one, the "
              "read, also opens the SSH connections, closed before every run).", "",
              "| figure | goal | playbook | start-up + exit (`floor_start.yml`) | `minimal_rollback.yml` | "
              "held back by (the floor's measured steps) | the goal against the floor |",
              "|---|---:|---:|---:|---:|---|---|"]
    before_apply = steps[: next((i for i, step in enumerate(steps) if step[0] == "apply"), len(steps))]
    start_ms = sum(span for _label, span, _own in before_apply if span is not None) if before_apply else None
    rows = [
        ("`rollback.yml` all new after (s)", 1.0, figures["rollback_all_new_after_s"], None, f["minimal_new"],
         (f"{_steps_text(steps, 'apply')}; {start_ms / 1000:.2f} s pass before the apply task starts"
          if steps else "-")),
        ("`rollback.yml` wall time (s)", 2.0, figures["rollback_wall_s"], f["start"], f["minimal"], _steps_text(steps)),
        ("`switch.yml` wall time (s)", 3.0, figures["switch_wall_s"], f["start"], f["minimal"],
         (_steps_text(steps) + "; a switch adds the smoke test of the target") if steps else "-"),
        ("ratio `rollback.yml` / template+reload peer, wall", 0.5, figures["rollback_template_ratio"],
         ratio(f["start"]), ratio(f["minimal"]),
         (f"start-up + exit alone ({_f(f['start'])} s) are {_f(ratio(f['start']))} of the peer's "
          f"{_f(f['template'])} s, which is itself start-up + one template task + two handlers")
         if f["start"] is not None and f["template"] else "the template peer or floor_start not measured"),
        ("`rollback.yml` over SSH to 3 LBs, wall (s)", 2.5, figures["ssh_rollback_wall_s"], f["ssh_start"],
         f["ssh_minimal"], _steps_text(ssh_steps) or "-"),
        ("`switch.yml` over SSH to 3 LBs, wall (s)", 4.0, figures["ssh_switch_wall_s"], f["ssh_start"],
         f["ssh_minimal"], (_steps_text(ssh_steps) + "; a switch adds the smoke test") if ssh_steps else "-"),
    ]
    for text, limit, measured, start, minimal, held in rows:
        floor = minimal if minimal is not None else start
        lines.append(f"| {text} | ≤ {limit:g} | {_f(measured)} | {_f(start)} | {_f(minimal)} | {held} | "
                     f"{_verdict(floor, limit)} |")
    lines += ["", "*All new after* of the floor: from the launch of `ansible-playbook` until every request sent later "
              f"reached the target colour, as for `rollback.yml`: {_f(f['minimal_new'])} s with connection local, "
              f"{_f(f['ssh_minimal_new'])} s over SSH (the light load on lb1). *the goal against the floor*: "
              "*below the floor* when the floor measured here is already above the goal (no content change to the "
              "playbook can meet it while it runs these steps through `ansible-playbook`); otherwise the playbook's "
              "distance to the floor is content.", ""]
    counts = []
    for label, runs in (("floor_start.yml, local", f["start_runs"]), ("minimal_rollback.yml, local", f["minimal_runs"]),
                        ("floor_start.yml, SSH", f["ssh_runs"][0]), ("minimal_rollback.yml, SSH", f["ssh_runs"][1])):
        if runs:
            counts.append(f"{label} {runs['runs']} ({runs['failed']} failed)")
    if counts:
        lines += ["Runs: " + ", ".join(counts) + ".", ""]
    if "rollback.yml" in local and f["minimal"] is not None:
        extra = _median_of(local["rollback.yml"]["wall_s"])
        if extra is not None:
            lines += [f"`rollback.yml` is {extra - f['minimal']:.2f} s above its floor with connection local"
                      + (f", {figures['ssh_rollback_wall_s'] - f['ssh_minimal']:.2f} s over SSH"
                         if figures["ssh_rollback_wall_s"] is not None and f["ssh_minimal"] is not None else "")
                      + ".", ""]
    lines += kept_checks_section(f, figures)
    if f["minimal_where"]:
        lines += where_table("`minimal_rollback.yml` (the floor, connection local)", f["minimal_where"])
    if f["ssh_minimal_where"]:
        lines += where_table("`minimal_rollback.yml` over SSH (the floor, 3 LBs)", f["ssh_minimal_where"])
    return lines
