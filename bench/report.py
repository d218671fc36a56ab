# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Render docs/benchmarks.md from one run (every number on the page comes from that run)."""

from __future__ import annotations

import analyse
import report_fast

METHOD_TEXT = {
    "module": "`switchyard.bluegreen.nginx_upstream`, one module process per switch with the arguments on stdin, "
              "the way Ansible's executor runs it (no ansible-playbook around it): lock, write the candidate, "
              "`nginx -T`, reload, wait for the new workers, wait for the old workers to exit (`drain_timeout`).",
    "symlink": "Peer 2: one upstream file per colour, `ln -sfn <colour>.conf conf.d/app_upstream.conf`, then "
               "`nginx -s reload` (two commands, no test first, no waiting).",
    "template": "Peer 1, what common nginx roles do: an `ansible-playbook` run with `ansible.builtin.template` of the "
                "upstream file in place, notifying handlers that run `nginx -t` and then `nginx -s reload` "
                "(bench/peers/template_switch.yml).",
    "playbooks": "`ansible-playbook playbooks/switch.yml` (blue to green) and `playbooks/rollback.yml` (back), "
                 "end to end "
                 "with connection local: detect, the smoke test of the target (switch.yml, which is also its "
                 "liveness probe) or the liveness probe (rollback.yml) (http_check), nginx_upstream, verification "
                 "through the load balancer (http_check). No preview listener on this load balancer, so "
                 "`smoke_test_preview=false`.",
    "haproxy": "`switchyard.bluegreen.haproxy_backend` against a master-worker HAProxy 2.6 with the same backends: "
               "runtime API over the admin socket (target colour ready first, then the old one drained), no reload; "
               "one module process per switch.",
}


SCRIPT_PHASE_TEXT = {
    "alb": "`switchyard.bluegreen.alb_switch` against moto_server on loopback (bench/alb_calls.py): an ALB "
           "listener moved between two target groups, each switch run again to check the re-run changes nothing; "
           "API calls counted by botocore event hooks (the module's `api_calls` result).",
    "eda": "Automatic rollback (bench/eda_rollback.py): the release on green turns bad (answers 500) after the "
           "switch; once with ansible-rulebook running `switchyard.bluegreen.auto_rollback` (the "
           "`bluegreen_watch` source, `rollback.yml` as its action), once with nothing watching.",
    "progressive": "Progressive switch (bench/progressive.py): the same bad release on green (500 on every 10th "
                   "request, which passes the 5-request precheck) through the switch role in one step and with "
                   "`bluegreen_steps`, nginx front converged by the nginx role, under a fixed-rate load.",
}

# Added to the playbooks' entry when the run measured the floor of issue #16 in their phase.
FLOOR_TEXT = (" In turn with them, the floor of issue #16: bench/peers/minimal_rollback.yml as a third switch of "
              "each round (so the rounds alternate direction), and bench/peers/floor_start.yml (switches nothing) in "
              "the gap after it; this phase's traffic figures include the floor's switches.")


def ms(value, digits=0):
    if value is None:
        return "-"
    return f"{value * 1000:.{digits}f}"


def mmm(stat, scale=1000.0, digits=0):
    """min / median / max."""
    if not stat:
        return "-"
    return " / ".join(f"{stat[k] * scale:.{digits}f}" for k in ("min", "median", "max"))


def by_key(run):
    return {result["key"]: result for result in run["analysis"]}


def errors(result, kind):
    return result["totals"][kind]["conn_errors"]


def per_switch(result, kind):
    return errors(result, kind) / max(1, result["summary"]["switches"])


def non_2xx(result):
    return sum(result["totals"][kind]["non_2xx"] for kind in analyse.KINDS)


def headline(run):
    results = by_key(run)
    lines = ["## Headline", ""]
    module = results.get("module")
    if module:
        s = module["summary"]
        errs = ", ".join(f"{analyse.KIND_LABELS[k]} **{errors(module, k)}**" for k in analyse.KINDS)
        lines.append(f"- **nginx_upstream, {s['switches']} switches under load** ({s['failed_switches']} failed). "
                     f"Requests without any HTTP answer, over all switches: {errs}. Non-2xx answers: "
                     f"**{non_2xx(module)}**.")
        timing = s.get("module_ms") or {}
        if timing.get("total_ms") and s["window_s"]:
            lines.append(f"- Median both-colours window **{ms(s['window_s']['median'])} ms**; median module time "
                         f"**{timing['total_ms']['median']:.0f} ms** (validate {timing['validate_ms']['median']:.0f}, "
                         f"reload {timing['reload_ms']['median']:.0f}, drain {timing['drain_ms']['median']:.0f} ms). "
                         f"Counted from the start of the module process, every request sent after "
                         f"**{ms(s['all_new_after_s']['median'])} ms** (median) reached the new colour.")
    playbooks = results.get("playbooks")
    if playbooks:
        walls = playbooks["summary"].get("wall_s", {})
        parts = [f"`{name}` **{stat['median']:.1f} s**" for name, stat in sorted(walls.items(), reverse=True)]
        lines.append(f"- Median `ansible-playbook` wall time, end to end: {', '.join(parts)} "
                     f"({playbooks['summary']['switches']} runs; errors under load: "
                     + ", ".join(f"{analyse.KIND_LABELS[k]} {errors(playbooks, k)}" for k in analyse.KINDS) + ").")
    hap = results.get("haproxy")
    if module and hap:
        lines.append(f"- **Keepalive clients without retry, nginx vs HAProxy**, same load and client: nginx_upstream "
                     f"**{errors(module, 'ka_noretry')}** errors over {module['summary']['switches']} switches "
                     f"({per_switch(module, 'ka_noretry'):.1f} per switch), haproxy_backend "
                     f"**{errors(hap, 'ka_noretry')}** over {hap['summary']['switches']} switches.")
    elif module:
        note = next((n for n in run.get("notes", []) if "HAProxy" in n or "haproxy" in n), "not run")
        lines.append(f"- HAProxy: {note}.")
    lines += script_headlines(run)
    lines.append("")
    return lines


def script_headlines(run):
    lines = []
    alb = (run.get("alb") or {}).get("data")
    if alb:
        lines.append(f"- **alb_switch**: **{alb['api_calls_per_switch']['total']}** ELBv2 API calls per switch; "
                     f"a re-run of the same switch reported `changed: false` "
                     f"{alb.get('reruns_unchanged', alb['runs'] if alb['rerun_changed_false'] else 'not all')} "
                     f"times of {alb['runs']} "
                     f"with {alb['api_calls_per_unchanged_rerun']['total']} calls and "
                     f"{alb['rerun_modify_calls']} ModifyListener (moto_server).")
    eda = (run.get("eda") or {}).get("data")
    if eda:
        by = {r["automatic_rollback"]: r for r in eda["results"]}
        if True in by and False in by:
            lines.append(f"- **Automatic rollback (EDA)**: a release that turns bad after the switch gave users "
                         f"errors in **{by[True]['seconds_with_errors']} s** with auto_rollback against "
                         f"**{by[False]['seconds_with_errors']} s** without ({by[False]['observed_s']:g} s observed; "
                         f"{by[True]['failed_requests']} vs {by[False]['failed_requests']} failed requests).")
    prog = (run.get("progressive") or {}).get("data")
    if prog and len(prog["results"]) == 2:
        one, steps = prog["results"]
        lines.append(f"- **Progressive switch**: the same bad release cost users **{one['errors_seen']}** errors "
                     f"switched in one step and **{steps['errors_seen']}** with `bluegreen_steps` "
                     f"\"{prog['settings']['steps']}\".")
    return lines


def plain_words(run):
    """What the numbers say, including where a peer is as good or better (conditions computed, not assumed)."""
    results = by_key(run)
    module, symlink, template = results.get("module"), results.get("symlink"), results.get("template")
    lines = ["## What the numbers say", ""]
    if module:
        new_ok = errors(module, "new") == 0 and errors(module, "ka_retry") == 0
        lines.append(
            "- nginx reloads are graceful for requests: "
            + ("no client that opens a new connection per request or retries once on a stale keepalive connection "
               "lost a request" if new_ok else "some requests of the new-connection or retrying clients failed "
               "(see the tables)")
            + f", and there were {non_2xx(module)} non-2xx answers. A keepalive client that does not retry loses "
            f"about {per_switch(module, 'ka_noretry'):.1f} requests per reload with "
            f"{run['load']['ka_noretry'][1]} connections: nginx's old workers close idle keepalive connections "
            "when they shut down, and a request already on its way on such a connection gets no answer. No tool "
            "that reloads nginx can avoid that; the retrying client shows that one retry hides it."
        )
    peers = [p for p in (symlink, template) if p]
    if module and peers:
        same = []
        for peer in peers:
            same.append(f"{peer['label']} {per_switch(peer, 'ka_noretry'):.1f}")
        lines.append(
            "- **On traffic the peers are as good as nginx_upstream**: they all end in the same nginx reload, so the "
            f"no-retry keepalive errors per switch are alike (nginx_upstream {per_switch(module, 'ka_noretry'):.1f}, "
            + ", ".join(same) + "), and so are the both-colours windows (medians: "
            + ", ".join(f"{r['label']} {ms(r['summary']['window_s']['median'])} ms" for r in [module, *peers]) + ")."
        )
    if module and symlink:
        faster = symlink["summary"]["command_s"]["median"] < module["summary"]["command_s"]["median"]
        if faster:
            lines.append(
                f"- **The symlink swap is faster**: its two commands return after "
                f"{ms(symlink['summary']['command_s']['median'])} ms (median) against "
                f"{ms(module['summary']['command_s']['median'])} ms for the module process, which starts a Python "
                "interpreter, tests the configuration first and waits until the old workers are gone. "
                f"The symlink swap returns before its old workers exit (they were gone after "
                f"{ms(symlink['summary']['old_gone_s']['median'] if symlink['summary']['old_gone_s'] else None)} ms), "
                "so a script that stops the old colour right after it cuts requests still in flight."
            )
    broken = run.get("broken") or {}
    if broken:
        bad = [k for k, v in broken.items() if not v.get("nginx_t_passes")]
        good = [k for k, v in broken.items() if v.get("nginx_t_passes")]
        labels = {"module": "nginx_upstream", "template": "the template peer", "symlink": "the symlink swap"}
        lines.append(
            "- **A broken input is where they differ.** With the same typo (`hash $remote_adr;`), "
            + (", ".join(labels[k] for k in good) + " left nginx's configuration valid" if good
               else "none left a valid configuration")
            + ("; " + ", ".join(labels[k] for k in bad) + " left the broken file live on disk, so `nginx -t` fails "
               "and the next reload or restart for any other reason (a certificate renewal, a log rotation, a reboot) "
               "fails too, or takes the site down" if bad else "")
            + (". Traffic stayed on the old colour in every case: nginx refused the reload."
               if all(v.get("served_after") == ["blue"] for v in broken.values())
               else ". Traffic afterwards: "
               + ", ".join(f"{labels[k]} {v.get('served_after')}" for k, v in broken.items()) + ".")
        )
    hap = results.get("haproxy")
    if module and hap:
        lines.append(
            f"- HAProxy's runtime API replaces no process: {errors(hap, 'ka_noretry')} errors for the no-retry "
            f"keepalive client over {hap['summary']['switches']} switches, against {errors(module, 'ka_noretry')} "
            "for nginx. "
            f"Its both-colours window (median {ms(hap['summary']['window_s']['median'])} ms) is the time between the "
            "two runtime commands plus requests in flight."
        )
    dns = run.get("dns") or {}
    tools = dns.get("tools") or {}
    if tools.get("amazon.aws.route53") and tools.get("route53_switch"):
        aws, ours = tools["amazon.aws.route53"], tools["route53_switch"]
        lines.append(
            f"- DNS: amazon.aws.route53 needs {median([s['calls'] for s in aws]):.0f} API calls and "
            f"{median([s['changes'] for s in aws]):.0f} changes per weighted shift (one task per record set) and "
            + ("passes through a state with both colours at full weight" if any(s["both_full"] for s in aws) else "")
            + (" and a state with both at 0" if any(s["both_zero"] for s in aws) else "")
            + f"; route53_switch needs {median([s['calls'] for s in ours]):.0f} calls and one change, with no "
            "intermediate state" + (" (none seen)" if not any(s["both_full"] or s["both_zero"] for s in ours) else
                                    " (but one was seen: see the table)") + "."
        )
    lines.append("")
    return lines


def median(values):
    values = sorted(values)
    if not values:
        return 0
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def methods_section(run):
    lines = ["## What was compared", ""]
    for result in run["analysis"]:
        text = METHOD_TEXT.get(result["key"], "")
        if "minimal_rollback.yml" in (result["summary"].get("per_playbook") or {}):
            text += FLOOR_TEXT
        lines.append(f"- **{result['label']}**: {text}")
    for name, text in SCRIPT_PHASE_TEXT.items():
        phase = run.get(name)
        if phase and phase.get("ran"):
            lines.append(f"- {text}")
        else:
            lines.append(f"- Not run: `{name}` ({not_run(run, name)}).")
    for note in run.get("notes", []):
        lines.append(f"- Not run: {note}.")
    lines.append("")
    return lines


def load_table(run):
    lines = ["## Traffic per method and client kind", "",
             "Counted by send time over each method's whole phase (warm-up, every switch and the gaps between). "
             "*No answer* means the request got no HTTP response at all (error kinds: `eof` the connection was "
             "closed before any response byte, `reset`, `refused`, `timeout`); *retried* requests got an answer on a "
             "new connection after one failed attempt on a reused one.", "",
             "| method | client kind | requests | req/s | non-2xx | no answer | error kinds | retried |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    for result in run["analysis"]:
        for kind in analyse.KINDS:
            t = result["totals"][kind]
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(t["error_kinds"].items())) or "-"
            lines.append(f"| {result['label']} | {analyse.KIND_LABELS[kind]} | {t['requests']} | {t['rate']:.0f} | "
                         f"{t['non_2xx']} | {t['conn_errors']} | {kinds} | "
                         f"{t['retried'] if kind == 'ka_retry' else '-'} |")
    lines.append("")
    return lines


def switch_table(run):
    lines = ["## Per switch", "",
             "min / median / max in milliseconds, from the start of the switch command. *Both colours*: from the "
             "first answer of the new colour to the last answer of the old one. *All new after*: the last request "
             "that still reached the old colour was sent this long after the start; every later one reached the new "
             "colour. *Old workers gone*: the last worker process of the previous nginx generation had exited "
             "(polled every 5 ms; HAProxy's runtime API replaces no process).", "",
             "| method | switches (failed) | both colours | all new after | old workers gone | command returned | "
             "errors per switch (new / retry / no retry) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for result in run["analysis"]:
        s = result["summary"]
        per = " / ".join(f"{per_switch(result, k):.2f}" for k in analyse.KINDS)
        lines.append(f"| {result['label']} | {s['switches']} ({s['failed_switches']}) | {mmm(s['window_s'])} | "
                     f"{mmm(s['all_new_after_s'])} | {mmm(s['old_gone_s'])} | {mmm(s['command_s'])} | {per} |")
    lines.append("")
    return lines


def tool_table(run):
    lines = ["## The tools' own time", ""]
    rows = []
    for result in run["analysis"]:
        for key, stat in (result["summary"].get("module_ms") or {}).items():
            if stat:
                rows.append(f"| {result['label']} | {key} | {stat['min']:.0f} | {stat['median']:.0f} | "
                            f"{stat['max']:.0f} |")
    if rows:
        lines += ["The modules' `timings` (ms; nginx_upstream: validate = `nginx -T` on the candidate, reload = "
                  "until the new workers appeared, drain = until the old ones exited; haproxy_backend has no reload "
                  "on a colour switch):", "", "| module | step | min | median | max |", "|---|---|---:|---:|---:|"]
        lines += [*rows, ""]
    walls = []
    for result in run["analysis"]:
        for name, stat in sorted((result["summary"].get("wall_s") or {}).items(), reverse=True):
            folder = "playbooks" if name in ("switch.yml", "rollback.yml") else "bench/peers"
            label = result["label"] if name == "all" else f"`ansible-playbook {folder}/{name}`"
            walls.append(f"| {label} | {mmm(stat, 1, 2)} |")
    if walls:
        lines += ["Wall time of the whole command (s, min / median / max):", "", "| command | seconds |", "|---|---:|"]
        lines += [*walls, ""]
    return lines


def broken_table(run):
    broken = run.get("broken")
    if not broken:
        return []
    labels = {"module": "nginx_upstream (module)", "template": "template + reload handler",
              "symlink": "symlink swap + reload"}
    lines = ["## A broken input: what each approach leaves behind", "",
             "The same typo through each approach, switching blue to green with `hash $remote_adr;` in the upstream "
             "(a misspelt variable: every syntax check short of nginx itself accepts it). Then: does the tool fail, "
             "what is on disk, does `nginx -t` pass, which colour serves.", "",
             "| approach | tool failed | on disk afterwards | `nginx -t` afterwards | served afterwards |",
             "|---|---|---|---|---|"]
    for key, info in broken.items():
        files = "; ".join(f"`{name}`: {state}" for name, state in info.get("files", {}).items()) or "-"
        test = "passes" if info.get("nginx_t_passes") else f"**fails**: `{short(info.get('nginx_t_error', ''))}`"
        failed = f"yes: `{short(info.get('tool_message', ''))}`" if info.get("tool_failed") else "**no**"
        lines.append(f"| {labels.get(key, key)} | {failed} | {files} | {test} | "
                     f"{', '.join(info.get('served_after', []))} |")
    lines.append("")
    return lines


def short(message):
    """An nginx error line without its timestamp and pid."""
    if "[emerg]" in message:
        message = message.split("[emerg]", 1)[1]
        message = message.split(":", 1)[1].strip() if ":" in message else message.strip()
    return message.replace("|", "/")[:90]


def dns_section(run):
    dns = run.get("dns")
    if not dns:
        return []
    lines = ["## DNS: amazon.aws.route53 vs route53_switch (moto on loopback)", "",
             "A weighted record `app.bench.example` with one record set per colour (`SetIdentifier` blue/green), "
             "shifted back and forth through `ansible-playbook`. amazon.aws.route53 the way its documentation shows "
             "weighted records, one task per record set (the new colour's weight up first, then the old one's down: "
             "the order that never leaves both at 0); route53_switch in one task, each tool with its default `wait`. "
             "API calls are counted by a proxy on loopback; after every `ChangeResourceRecordSets` it reads the "
             "weights straight from moto: the states a resolver could be handed between two calls. moto answers "
             "every change `INSYNC` at once, so route53_switch's default `wait: true` needs no `GetChange` here; "
             "against AWS it adds `GetChange` polls until `INSYNC` (amazon.aws.route53 defaults to `wait: false`).",
             "",
             "| tool | shifts | API calls per shift | changes per shift | calls by action (first shift) | "
             "intermediate state: both at full weight | both at 0 | playbook wall time (s, median) |",
             "|---|---:|---:|---:|---|---|---|---:|"]
    for tool, shifts in dns.get("tools", {}).items():
        if not shifts:
            continue
        actions = ", ".join(f"{k} {v}" for k, v in shifts[0]["by_action"].items())
        lines.append(
            f"| {tool} | {len(shifts)} | {median([s['calls'] for s in shifts]):.0f} | "
            f"{median([s['changes'] for s in shifts]):.0f} | {actions} | "
            f"{sum(1 for s in shifts if s['both_full'])} of {len(shifts)} | "
            f"{sum(1 for s in shifts if s['both_zero'])} of {len(shifts)} | "
            f"{median([s['wall_s'] for s in shifts]):.1f} |")
    lines.append("")
    alias = dns.get("alias_rerun") or {}
    if alias:
        lines += ["Re-run of an alias switch (the same task twice; the second run should report `changed: false`). "
                  "moto returns an alias target's `DNSName` exactly as it was sent; AWS returns it lowercased with a "
                  "trailing dot. The second row answers the way AWS does (the proxy rewrites `DNSName` in "
                  "`ListResourceRecordSets` answers), with the name given as in amazon.aws.route53's example, "
                  "without a trailing dot.", "",
                  "| API answers | amazon.aws.route53: re-run reports changed "
                  "| route53_switch: re-run reports changed |",
                  "|---|---|---|"]
        for mode, tools in alias.items():
            cells = []
            for tool in ("amazon.aws.route53", "route53_switch"):
                info = tools.get(tool, {})
                cells.append("failed" if info.get("failed") else ("**yes**" if info.get("rerun_changed") else "no"))
            label = "as moto sends them" if mode == "moto" else "the AWS way (lowercase, trailing dot)"
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
        lines.append("")
    return lines


def not_run(run, name):
    """Why a script phase has no numbers in this run."""
    phase = run.get(name)
    if phase is None:
        return "not part of this run" + (" (`--only`)" if run.get("only") else "")
    return phase.get("reason", "no results")


def api_calls_section(run):
    """The switches that call a cloud API side by side: calls per switch and what a re-run does."""
    lines = ["## API calls per switch (moto on loopback)", "",
             "Calls a switch makes against the provider's API, and what running the same switch again does "
             "(an idempotent tool reports `changed: false` and writes nothing). DNS rows: see the DNS section "
             "below for how they are counted; the re-run column there is the alias re-run with moto's answers.", "",
             "| tool | switches | API calls per switch | calls by operation | re-run of the same switch: changed "
             "| API calls per re-run | write calls on re-run |",
             "|---|---:|---:|---|---|---:|---:|"]
    dns = run.get("dns") or {}
    alias = (dns.get("alias_rerun") or {}).get("moto") or {}
    for tool, shifts in (dns.get("tools") or {}).items():
        if not shifts:
            continue
        info = alias.get(tool) or {}
        if not info:
            rerun = "-"
        elif info.get("failed"):
            rerun = "failed"
        else:
            rerun = "**yes**" if info.get("rerun_changed") else "no"
        actions = ", ".join(f"{k} {v}" for k, v in shifts[0]["by_action"].items())
        lines.append(f"| {tool} (weighted shift) | {len(shifts)} | {median([s['calls'] for s in shifts]):.0f} | "
                     f"{actions} | {rerun} | - | - |")
    if not dns:
        lines.append(f"| amazon.aws.route53, route53_switch | not run: {not_run(run, 'dns')} | | | | | |")
    alb = run.get("alb") or {}
    data = alb.get("data")
    if data:
        calls, rerun = data["api_calls_per_switch"], data["api_calls_per_unchanged_rerun"]
        writes = data["rerun_modify_calls"]
        unchanged = data.get("reruns_unchanged", data["runs"] if data["rerun_changed_false"] else "not all")
        same = "" if data["api_calls_per_switch_all_equal"] else " (not the same on every switch: last shown)"
        lines.append(
            f"| alb_switch (listener between target groups) | {data['runs']} | {calls['total']}{same} | "
            + ", ".join(f"{k} {v}" for k, v in calls["by_operation"].items())
            + f" | {'no' if data['rerun_changed_false'] else '**yes**'} ({unchanged} of {data['runs']} re-runs "
            f"reported `changed: false`) | {rerun['total']} | {writes} ModifyListener over {data['runs']} re-runs |")
        inproc = data["in_process_switches"]
        lines += ["", f"alb_switch, {data['emulator']}: cross-check in one process on one boto3 client, "
                  f"{inproc['total']} calls for {inproc['runs']} switches "
                  f"({inproc['total'] / max(1, inproc['runs']):.1f} per switch; "
                  + ", ".join(f"{k} {v}" for k, v in inproc["by_operation"].items()) + "), "
                  f"{data['in_process_reruns']['total']} calls for {data['in_process_reruns']['runs']} re-runs. "
                  "Module process per switch (interpreter start-up included): median "
                  f"{data['switch_module']['median_ms']:.0f} ms, re-run "
                  f"{data['unchanged_rerun_module']['median_ms']:.0f} ms."]
    else:
        lines.append(f"| alb_switch | not run: {not_run(run, 'alb')} | | | | | |")
    lines.append("")
    return lines


def eda_section(run):
    lines = ["## Automatic rollback (EDA): seconds of errors with vs without", ""]
    phase = run.get("eda") or {}
    data = phase.get("data")
    if not data:
        return [*lines, f"Not measured in this run: {not_run(run, 'eda')}.", ""]
    times = data["times"]
    lines += [f"A release turns bad {times['bad_after']:g} s after the switch to green (green answers 500 to "
              f"everything); {times['observe']:g} s are observed from that moment, under a fixed-rate load. With "
              f"automatic rollback the `bluegreen_watch` source judges windows of {times['window']} s every "
              f"{times['interval']} s and fires after {times['bad_windows']} bad windows "
              f"(at least {times['min_requests']} requests each); without it nobody acts within the observation "
              f"({data['mode']} mode; `{phase['command']}`).", "",
              "| release turns bad after the switch | failed requests | error span (s) | seconds with errors "
              "| first bad request -> old colour (s) | rolled back |",
              "|---|---:|---:|---:|---:|---|"]
    for result in data["results"]:
        label = "automatic rollback (EDA auto_rollback)" if result["automatic_rollback"] else "no automatic rollback"
        back = result["first_bad_to_old_colour_s"]
        back = back if back is not None else f"never (within {result['observed_s']:g} s)"
        lines.append(f"| {label} | {result['failed_requests']} of {result['requests']} | {result['error_span_s']} | "
                     f"{result['seconds_with_errors']} | {back} | {'yes' if result['rolled_back'] else 'no'} |")
    lines.append("")
    return lines


def progressive_section(run, images):
    lines = ["## Progressive switch: one step vs steps, same bad release", ""]
    phase = run.get("progressive") or {}
    data = phase.get("data")
    if not data:
        return [*lines, f"Not measured in this run: {not_run(run, 'progressive')}.", ""]
    settings = data["settings"]
    lines += ["The release on green answers 500 to every 10th request: it passes the precheck but not real "
              "traffic. Errors are counted from the playbook's start to 0.5 s after it ended. One step: the "
              "ordinary switch, whose verification through the load balancer may see the errors and switch back. "
              f"Progressive: `bluegreen_steps: \"{settings['steps']}\"` (percent of traffic to green : seconds "
              f"observed), at least {settings['min_requests']} requests per step, each "
              f"step judged before the next. Load client paced at {settings['rate']:g} requests/s at most "
              f"(`{phase['command']}`).", "",
              "| switch | requests | answered by green | errors users saw | error rate | playbook (s) | outcome "
              "| served afterwards (10 requests) |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
    for result in data["results"]:
        outcome = abort_reason(result["aborted_at"]) or f"playbook failed (rc {result['playbook_rc']})" \
            if result["playbook_rc"] else "playbook succeeded"
        rate = "-" if result["error_rate"] is None else f"{100 * result['error_rate']:.2f} %"
        served = ", ".join(f"{colour} {n}" for colour, n in sorted((result.get("served_after") or {}).items())) or "-"
        lines.append(f"| {result['mode']} | {result['requests']} | {result['green_answered']} | "
                     f"{result['errors_seen']} | {rate} | {result['playbook_s']} | {outcome} | {served} |")
    left_live = [r["mode"] for r in data["results"]
                 if (r.get("served_after") or {}).get("green", 0) > (r.get("served_after") or {}).get("blue", 0)]
    if left_live:
        lines += ["", f"After {', '.join(left_live)} the bad release was still serving: its users keep getting its "
                  "errors after the count above stops, until someone switches back."]
    lines.append("")
    if "progressive" in images:
        lines += ["Green's share of the answers (the weight users actually got) and the error rate, per second "
                  "since the playbook started:", "", f"![progressive switch]({images['progressive']})", ""]
    return lines


def abort_reason(line):
    """`aborted at step 1 (weight 10 %): <verdict>` out of the playbook's error line, or None."""
    if not line or "aborted at step" not in line:
        return None
    text = "aborted at step" + line.split("aborted at step", 1)[1].split(". Figures:", 1)[0]
    back = [end for end in ("All traffic is back on blue", "All traffic is back on green") if end in line]
    return (text.replace("fail: ", "", 1) + (f"; {back[0].lower()}" if back else "")).replace("|", "/")


def draw_progressive(results, path):
    """Weight (green's observed share) and error rate per second, one panel per run; False without matplotlib."""
    try:
        import matplotlib  # noqa: PLC0415 - requirements-bench.txt
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(results), 1, figsize=(8, 2.8 * len(results)), sharex=True, squeeze=False)
    for ax, result in zip(axes[:, 0], results):
        rows = result["timeline"]
        if not rows:
            continue
        # Each value holds for its whole second: repeat the last one at its end so that second is drawn too.
        seconds = [r["second"] for r in rows] + [rows[-1]["second"] + 1]
        ax.step(seconds, [100 * r["green_share"] for r in rows] + [100 * rows[-1]["green_share"]], where="post",
                color="#2e9e44", label="green share of answers %")
        ax.step(seconds, [100 * r["error_rate"] for r in rows] + [100 * rows[-1]["error_rate"]], where="post",
                color="#d62728", label="error rate %")
        ax.set_title(f"{result['mode']}: {result['errors_seen']} errors in {result['requests']} requests",
                     fontsize=10)
        ax.set_ylabel("%")
        ax.set_ylim(-3, 103)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("seconds since the playbook started")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plots_section(run, images):
    lines = ["## Around one switch, per method", "",
             "Answers per colour per 10 ms for each client kind, around the switch whose both-colours window is the "
             "median one of its method (not the best, not the worst). Red crosses: requests with no answer; orange "
             "circles: answered after one retry on a new connection; yellow: both colours answer.", ""]
    for result in run["analysis"]:
        if result["key"] in images:
            lines += [f"### {result['label']}", "", f"![{result['label']}]({images[result['key']]})", ""]
    for key, title in (("errors", "Requests with no answer, per switch"),
                       ("windows", "Both-colours window and convergence, every switch")):
        if key in images:
            lines += [f"### {title}", "", f"![{title}]({images[key]})", ""]
    return lines


def how_section(run):
    m = run["machine"]
    counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items())
    load = "; ".join(f"{analyse.KIND_LABELS[k]}: {rate} req/s target over {conns} connections"
                     for k, (rate, conns) in run["load"].items())
    cpu = ", ".join(f"{r['label']} {r['cpu_busy']:.0%}" for r in run["analysis"] if r.get("cpu_busy") is not None)
    client_cpu = ", ".join(
        f"{r['label']} {sum(u['cpu_s'] for u in r['usage'].values()) / max(1e-9, r['duration_s']):.2f}"
        for r in run["analysis"] if r.get("usage"))
    lines = [
        "## How it was measured", "",
        f"- Command: `{run['command']}` (which runs `bash bench/run.sh{' --quick' if run['quick'] else ''}`: it "
        "installs the pinned `requirements-bench.txt` into `build/venv` when needed and runs `bench/bench.py`). "
        f"Run started {run['started']} and took {run['elapsed_s'] / 60:.1f} min. Switches per method: {counts}.",
        f"- Machine: {m['os']}, kernel {m['kernel']}, {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; "
        f"{m['nginx']}; {m['haproxy']}; Python {m['python']}; ansible-core {m['ansible_core']}. "
        f"Load average before the run: {m.get('loadavg', '?')}, after: {run.get('loadavg_end', '?')}.",
        "- Everything on 127.0.0.1: one nginx serving blue and green (`return 200` with `X-App-Color`, never "
        "reloaded), the nginx load balancer under test (2 workers, upstream `keepalive 16`, default "
        "`keepalive_timeout`), HAProxy 2.6 for its phase, moto_server for DNS.",
        f"- Load, the same for every method: three client processes at once (Python asyncio, paced, not closed "
        f"loop): {load}. Every request is recorded with send time, answer time, colour, status or error kind. "
        "The load is moderate on purpose: this is about errors and windows, not peak throughput, and 2 cores run "
        "the clients, both nginx instances and the switching tools. The achieved rates are in the traffic table; "
        + (f"the client processes used {client_cpu} cores on average per phase; the whole machine was busy "
           f"{cpu} of the time." if run["analysis"] else "(no such phase in this run)."),
        f"- Between two switches the load runs {run['gap_s']} s undisturbed; a switch's errors are those of "
        "requests sent from its start to the next switch's start.",
        "- Answer times are taken when the client process handles the answer. On a busy machine that can be "
        "tens of milliseconds after nginx sent it, which is why a plot can show an old-colour answer just after the "
        "old workers were seen gone; windows and convergence times carry that noise, error counts do not.",
        "- Times from the start of a switch include the tool's own start-up (a Python interpreter for the modules, "
        "ansible-playbook for the playbooks); the modules' `timings` exclude it.",
        "- This machine is shared with other work (tests, containers) and has only 2 cores: absolute times, above "
        "all interpreter start-up and playbook wall times, are slower than on an idle machine. Error counts, "
        "windows and ratios between methods measured in the same run are the numbers to compare.",
        *script_phase_lines(run),
        *report_fast.how_lines(run),
        "- moto is far more permissive than Route53 and applies changes at once (always `INSYNC`); the DNS numbers "
        "are API calls and states, not propagation times.",
        "",
    ]
    return lines


def script_phase_lines(run):
    done = [f"`{run[name]['command']}` {run[name]['elapsed_s']:.0f} s" for name in SCRIPT_PHASE_TEXT
            if (run.get(name) or {}).get("ran")]
    if not done:
        return []
    return ["- The ALB, automatic-rollback and progressive phases are scripts with their own lab (their own nginx, "
            "backends, load client or moto_server), run one after the other after the phases above, each in its "
            "own process group with a time bound: " + ", ".join(done) + "."]


def render(run, images):
    lines = [
        f"<!-- Generated by bench/report.py from one run of `{run['command']}` ({run['started']}); "
        "edit bench/report.py, not this file. -->",
        "# Benchmarks: switching under load", "",
        "\"Zero downtime\" and \"instant rollback\" as measured numbers, next to what people otherwise do, in **one "
        "run on one machine under the same load**. Every number below comes from that run; raw per-request records "
        "are in `bench/results/<run>/` (not committed). See [How it was measured](#how-it-was-measured).", "",
    ]
    lines += headline(run)
    lines += report_fast.goals_section(run)
    lines += report_fast.floor_section(run)
    if run["analysis"]:
        lines += plain_words(run)
    lines += methods_section(run)
    if run["analysis"]:
        lines += load_table(run)
        lines += switch_table(run)
        lines += tool_table(run)
        lines += report_fast.peer_section(run)
        lines += report_fast.where_section(run)
    else:
        lines += ["## Switching under load (nginx, HAProxy)", "",
                  "Not run in this run (`--only` left out module, symlink, template, playbooks and haproxy): no "
                  "traffic, per-switch or tool-time figures.", ""]
    lines += report_fast.ssh_section(run)
    lines += report_fast.fleet_section(run, images)
    lines += broken_table(run)
    lines += api_calls_section(run)
    lines += dns_section(run)
    lines += eda_section(run)
    lines += progressive_section(run, images)
    if run["analysis"]:
        lines += plots_section(run, images)
    lines += how_section(run)
    return "\n".join(lines)
