#!/usr/bin/python
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_backend
short_description: Switch an application's HAProxy backend between blue and green pools without a reload
version_added: 0.1.0
description:
  - Owns one file with one HAProxy C(backend) section for one application. Its servers are the pools of every
    colour, named C(<colour>-<n>) (so C(%[srv_name,field(1,-)]) gives the colour, for a response header).
  - The live colour (O(active)) or a split (O(weights)) is applied through HAProxy's runtime API over the admin
    socket, with no reload, so keepalive clients see no errors. The target colour's servers are brought to ready
    first; only then do the old colour's servers go to drain or maint (O(old_state)), never the reverse order.
  - The chosen state is also persisted in the file (idle servers C(disabled) for maint, C(weight 0) for drain), which
    is what a later reload or restart loads, and in a server-state file of this backend (O(state_file)). The file is
    rewritten without a reload and checked with C(haproxy -c) first; it is restored on any failure.
  - A reload (O(reload_command)) happens only when the pools differ from what the running HAProxy has (new backend,
    servers added, removed or moved), or when O(balance), O(health_check_path), O(server_options) or O(state_file)
    changed. The module waits until a new worker answers with the new servers. A colour switch never reloads.
  - A switch to a colour whose servers all fail their health checks is refused, so traffic stays where it is.
  - Drift, a running state that differs from the file (someone used the socket by hand), is reported in C(drift)
    and converged to the requested state.
  - After a switch the module waits up to O(drain_timeout) until the servers that left the rotation have no current
    sessions.
  - The module never starts HAProxy; with O(apply=true) it fails when the admin socket does not answer.
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_haproxy
  - switchyard.bluegreen.switching
attributes:
  check_mode:
    support: full
    details:
      - Reads the file and the runtime state (read-only commands on the admin socket), predicts C(changed) and
        returns the diff and the runtime commands it would send; writes nothing and sends no change.
  diff_mode:
    support: full
    details:
      - Shows the managed file before and after, and the servers' runtime states before and after.
  idempotent:
    support: full
    details:
      - A run that asks for the state already in the file and in the running HAProxy writes nothing and sends no
        change.
options:
  name:
    description:
      - Name of the backend, as used in C(use_backend) or C(default_backend). Letters, digits and V(_) only (1-64).
    type: str
    required: true
  weights:
    description:
      - A traffic split, colour to integer from V(0) to V(256), at least one above V(0); colours left out get V(0).
      - The weights are shares per colour, not per server; pools of different sizes keep the split.
      - Colours with weight V(0) are put in O(old_state).
    type: dict
  old_state:
    description:
      - What happens to the servers of colours that take no traffic.
      - V(drain) keeps them checked and lets sessions bound to them (stickiness) finish; persisted as C(weight 0).
      - V(maint) takes them out entirely, health checks too; persisted as C(disabled).
      - Open requests finish in both cases.
    type: str
    choices: [drain, maint]
    default: drain
  balance:
    description: Load-balancing algorithm of the backend.
    type: str
    choices: [roundrobin, static-rr, leastconn, first, source, random]
    default: roundrobin
  health_check_path:
    description:
      - Check every server with C(GET <path>) (C(option httpchk)); turns on O(server_options.check).
    type: str
  server_options:
    description:
      - Parameters added to every C(server) line. Unknown keys are rejected; C(weight) and C(disabled) are managed
        by the module.
    type: dict
    suboptions:
      check:
        description: Health-check the servers.
        type: bool
      inter:
        description: Interval between checks, an HAProxy duration such as V(2s).
        type: str
      fastinter:
        description: Interval between checks while a server changes state.
        type: str
      downinter:
        description: Interval between checks of a server that is down.
        type: str
      rise:
        description: Successful checks before a server counts as up.
        type: int
      fall:
        description: Failed checks before a server counts as down.
        type: int
      maxconn:
        description: Most concurrent connections to one server (V(0) = no limit).
        type: int
      slowstart:
        description: Time a server takes to reach its full weight after coming up, such as V(10s).
        type: str
  path:
    description:
      - The managed file. Default C(/etc/haproxy/conf.d/bluegreen_<name>.cfg).
      - HAProxy must load it. Debian's service loads only C(/etc/haproxy/haproxy.cfg); the
        C(switchyard.bluegreen.haproxy) role adds C(-f /etc/haproxy/conf.d) to the service.
      - An existing file without the module's metadata line is never overwritten.
    type: path
  state_file:
    description:
      - Server-state file of this backend only. The backend is rendered with C(load-server-state-from-file local)
        and C(server-state-file-name <state_file>), and the module stores C(show servers state <name>) there after
        every change, so a reload also keeps health-check states.
      - Default C(/var/lib/haproxy/bluegreen_<name>.state). V('') renders no state-file lines.
    type: path
  apply:
    description:
      - Apply the state to the running HAProxy (runtime API, and a reload when the pools changed).
      - With V(false) the file is only written and checked with C(haproxy -c), for example before HAProxy is started.
    type: bool
    default: true
  admin_socket:
    description: HAProxy's admin socket (a C(stats socket <path> level admin) line of its global section).
    type: path
    default: /run/haproxy/admin.sock
  socket_timeout:
    description: Seconds to wait for one answer on the admin socket.
    type: float
    default: 5
  reload_command:
    description:
      - Command (argument list, no shell) that reloads HAProxy, used only when the pools changed.
      - Default V([systemctl, reload, haproxy]). For a master-worker HAProxy without systemd,
        for example V([kill, -USR2, <master pid>]).
    type: list
    elements: str
  reload_timeout:
    description: Seconds to wait after the reload for a new worker with the new servers before the change is undone.
    type: float
    default: 10
  drain_timeout:
    description:
      - Seconds to wait until the servers that left the rotation have no current sessions (after a reload, until
        the previous worker exits).
      - V(0) does not wait. When the time runs out the switch still succeeds, with a warning and C(drained=false).
    type: float
    default: 30
  haproxy_binary:
    description: The haproxy program; a name is looked up on C(PATH) and the sbin directories.
    type: str
    default: haproxy
  haproxy_config:
    description:
      - The configuration files or directories the HAProxy service loads (its C(-f) arguments), in order. The
        managed file is checked together with them (C(haproxy -c -f ...)); it is added last when none of them is
        the file or its directory.
    type: list
    elements: path
    default: [/etc/haproxy/haproxy.cfg]
  state:
    description:
      - V(absent) removes the managed file and its state file, after checking that the configuration is still
        valid without it (it is restored when it is not), and reloads HAProxy when the backend is running.
    type: str
    choices: [present, absent]
    default: present
  phase:
    description:
      - Two-phase switching, for a fleet of load balancers that must switch at one instant.
      - V(apply) switches now, as always. It also removes a stage record left on this host (an expired one, or an
        unexpired one it supersedes, with a warning), so a stage that never got its commit cannot block it.
      - V(stage) makes every check a switch makes and changes nothing, neither a file nor the running HAProxy
        (no runtime command is sent). It checks that the admin socket answers, reads the backend's servers, checks
        the candidate file with C(haproxy -c) on a temporary copy, computes the runtime commands, and keeps them
        in a stage record C(<path>.stage) with a hash of the state they were computed from (the servers' runtime
        states and the file's text). Nothing changes, so C(changed) is V(false); C(commands), C(reload_reasons)
        and the diff say what the commit will do. When the state is already the requested one, the record only
        says so and the commit changes nothing. A stage of another O(stage_id) supersedes an unexpired record
        (with a warning), so a later run always wins.
      - V(commit) applies the stage O(stage_id) at O(commit_at). It is refused, and changes nothing, when the record
        is missing, from another stage_id, expired, when the file or the servers' runtime states changed since the
        stage, or when the task's arguments give another plan than the staged one. It then waits until
        O(commit_at), sends the runtime commands (target colour ready first), and writes the file and the state
        file after them. A command that fails puts every server back as it was and restores the files. The record
        of O(stage_id) is removed whether the commit succeeds or fails (a newer stage's record stays).
      - V(abort) removes the stage record of O(stage_id); a record of another stage is left in place.
      - A change that needs a reload (pools or backend settings changed) is staged and committed too; the reload
        then happens at O(commit_at).
      - V(stage), V(commit) and V(abort) take the same other arguments as the switch (O(pools), O(active) or
        O(weights), ...); they need O(state=present) and O(apply=true).
    type: str
    choices: [apply, stage, commit, abort]
    default: apply
    version_added: 0.2.0
  stage_id:
    description:
      - Identifies one fleet switch; the same value on every load balancer, for example the job id and a
        timestamp.
      - Required with O(phase=stage), O(phase=commit) and O(phase=abort); ignored with O(phase=apply).
    type: str
    version_added: 0.2.0
  stage_ttl:
    description:
      - Seconds a stage waits for its commit (O(phase=stage)). After that its commit is refused, and the next run
        on this host removes the record.
    type: float
    default: 60
    version_added: 0.2.0
  commit_at:
    description:
      - The instant to commit at (O(phase=commit) only), the same for every load balancer of the fleet, as a UTC
        time in ISO 8601 ending in V(Z) (V(2026-11-29T19:30:00.250Z)) or epoch seconds. Empty means now.
      - The module prepares everything first, sleeps until then, and then sends the commands; C(commit_late_ms)
        says how late it started. An instant more than 600 seconds ahead is refused (a clock or unit mistake).
      - The hosts' clocks must be synchronised (NTP) for the fleet to switch together.
    type: str
    version_added: 0.2.0
notes:
  - A colour switch with unchanged pools never reloads HAProxy, so keepalive clients see no errors.
  - The order of the servers in O(pools) matters (it gives their names); changing the pools needs a reload.
  - O(backup) keeps C(<path>.previous), which HAProxy's C(-f <dir>) does not load (it loads only C(*.cfg)).
  - Only the backend is in the file; frontends (C(use_backend <name>)) stay yours.
seealso:
  - module: switchyard.bluegreen.haproxy_backend_info
  - module: switchyard.bluegreen.nginx_upstream
"""

EXAMPLES = r"""
- name: Send all traffic of shop to green (runtime API, no reload)
  switchyard.bluegreen.haproxy_backend:
    name: shop
    pools:
      blue: ["10.0.0.11:8080", "10.0.0.12:8080"]
      green: ["10.0.1.11:8080", "10.0.1.12:8080"]
    active: green
    health_check_path: /healthz
  register: switch

- name: Canary, 10 % of the traffic to green
  switchyard.bluegreen.haproxy_backend:
    name: shop
    pools:
      blue: ["10.0.0.11:8080"]
      green: ["10.0.1.11:8080"]
    weights:
      blue: 90
      green: 10

- name: A master-worker HAProxy started by hand, idle colour in maintenance
  switchyard.bluegreen.haproxy_backend:
    name: shop
    pools:
      blue: ["127.0.0.1:8081"]
      green: ["127.0.0.1:8082"]
    active: blue
    old_state: maint
    path: /srv/lb/conf.d/bluegreen_shop.cfg
    state_file: /srv/lb/state/shop.state
    haproxy_config: [/srv/lb/haproxy.cfg, /srv/lb/conf.d]
    admin_socket: /srv/lb/admin.sock
    reload_command: [kill, -USR2, "{{ haproxy_master_pid }}"]

# A fleet of load balancers switching at one instant: stage on every LB, then commit everywhere at the same
# wall-clock time, a little after the slowest stage returned. A failed stage anywhere aborts the rest.
- name: Stage the switch of shop to green on every load balancer (nothing changes yet)
  switchyard.bluegreen.haproxy_backend:
    name: shop
    pools: "{{ shop_pools }}"
    active: green
    phase: stage
    stage_id: "{{ tower_job_id | default('manual') }}-{{ switch_started }}"
    stage_ttl: 60
  register: staged

- name: Choose the commit instant once, on the controller
  ansible.builtin.set_fact:
    shop_commit_at: "{{ (now(utc=true).timestamp() + 2) | round(3) }}"
  run_once: true
  delegate_to: localhost

- name: Commit on every load balancer at that instant
  switchyard.bluegreen.haproxy_backend:
    name: shop
    pools: "{{ shop_pools }}"
    active: green
    phase: commit
    stage_id: "{{ tower_job_id | default('manual') }}-{{ switch_started }}"
    commit_at: "{{ shop_commit_at }}"
  register: committed

- name: Drop a stage that will not be committed (for example another LB failed to stage)
  switchyard.bluegreen.haproxy_backend:
    name: shop
    pools: "{{ shop_pools }}"
    active: green
    phase: abort
    stage_id: "{{ tower_job_id | default('manual') }}-{{ switch_started }}"

- name: Remove the backend of shop
  switchyard.bluegreen.haproxy_backend:
    name: shop
    state: absent
"""

RETURN = r"""
active:
  description: The colour that takes all live traffic (null with weights or state=absent).
  returned: always
  type: str
  sample: green
previous_active:
  description: The colour that was active before the last switch (for state=absent, the colour active before removal).
  returned: always
  type: str
  sample: blue
weights:
  description: The traffic split (null with active).
  returned: always
  type: dict
  sample: {"blue": 90, "green": 10}
previous_weights:
  description: The split before the last switch.
  returned: always
  type: dict
  sample: null
switched_at:
  description: When the traffic selection last changed (UTC, ISO 8601), from the file's metadata.
  returned: always
  type: str
  sample: "2026-11-27T05:40:00Z"
path:
  description: The managed file.
  returned: always
  type: str
  sample: /etc/haproxy/conf.d/bluegreen_shop.cfg
backup_file:
  description: The copy of the previous file (null when nothing was replaced).
  returned: always
  type: str
  sample: /etc/haproxy/conf.d/bluegreen_shop.cfg.previous
state_file:
  description: The backend's server-state file (null when none is used).
  returned: always
  type: str
  sample: /var/lib/haproxy/bluegreen_shop.state
reloaded:
  description: HAProxy was reloaded (only when the pools changed) and a new worker answered with the new servers.
  returned: always
  type: bool
applied_at:
  description:
    - UTC time, to the millisecond, at which the running HAProxy took the new state (the runtime commands
      were sent, or the reload was confirmed); null when nothing was applied.
    - Comparing it across load balancers gives the skew between the first and the last; that needs
      synchronised clocks (NTP).
  returned: always
  type: str
  sample: "2026-11-27T08:10:03.412Z"
drained:
  description:
    - After a change, the servers that left the rotation had no current sessions within O(drain_timeout)
      (after a reload, the previous worker exited). False when nothing changed.
  returned: always
  type: bool
sessions:
  description: Current sessions of servers that left the rotation, when they did not drain in time.
  returned: when drained is false after a runtime switch
  type: dict
  sample: {"blue-1": 3}
drift:
  description:
    - How the running state differed from the persisted one (the file) before this run, one sentence per server.
      The run converges it.
  returned: always
  type: list
  elements: str
  sample: ["blue-1: running ready weight 1, file says drain"]
commands:
  description: Runtime API commands sent (in check mode, the ones that would be sent), in order.
  returned: always
  type: list
  elements: str
  sample: ["set weight shop/green-1 1", "set server shop/green-1 state ready", "set server shop/blue-1 state drain"]
reload_reasons:
  description: Why a reload was (or would be) needed.
  returned: always
  type: list
  elements: str
  sample: ["the running HAProxy has no backend shop"]
runtime:
  description: The servers' runtime state after the run (null with apply=false or when the backend is not running).
  returned: always
  type: dict
  sample: {"blue-1": {"state": "drain", "weight": 1, "health": "up", "admin_state": 8, "address": "10.0.0.11:8080"}}
timings:
  description: Milliseconds spent per step (null for a step that did not run).
  returned: always
  type: dict
  contains:
    lock_ms:
      description: Waiting for the lock.
      type: int
    validate_ms:
      description: C(haproxy -c) on the candidate file.
      type: int
    reload_ms:
      description: From sending the reload until a new worker answered with the new servers.
      type: int
    switch_ms:
      description: Sending the runtime API commands.
      type: int
    drain_ms:
      description: Waiting until the servers that left had no sessions (or the timeout).
      type: int
    total_ms:
      description: The whole module run after argument parsing.
      type: int
  sample: {"lock_ms": 0, "validate_ms": 14, "reload_ms": null, "switch_ms": 2, "drain_ms": 1, "total_ms": 25}
staged:
  description:
    - O(phase=stage) checked the change and kept a stage record (V(false) for the other phases and in check mode).
  returned: always
  type: bool
  version_added: 0.2.0
stage_id:
  description: The O(stage_id) of the run (null with O(phase=apply)).
  returned: always
  type: str
  sample: "4711-20261129T193000"
  version_added: 0.2.0
stage_expires_at:
  description: When the stage record expires (UTC, ISO 8601 with milliseconds; only with O(phase=stage)).
  returned: always
  type: str
  sample: "2026-11-29T19:31:00.118Z"
  version_added: 0.2.0
commit_at:
  description: The commit instant the host used (UTC, ISO 8601 with milliseconds; null unless O(phase=commit) with
    O(commit_at)).
  returned: always
  type: str
  sample: "2026-11-29T19:30:02.000Z"
  version_added: 0.2.0
committed_at:
  description:
    - When the running HAProxy took the change (UTC, ISO 8601 with milliseconds, right after the last runtime
      command, or when the reload was confirmed), as C(applied_at); null unless a O(phase=commit) applied a
      change.
  returned: always
  type: str
  sample: "2026-11-29T19:30:02.001Z"
  version_added: 0.2.0
commit_late_ms:
  description:
    - How many milliseconds after O(commit_at) this host started to apply (V(0) when it was waiting in time;
      null unless a O(phase=commit) applied a change). A late host applies at once, with a warning when over
      1 s.
  returned: always
  type: float
  sample: 0.0
  version_added: 0.2.0
haproxy_errors:
  description: HAProxy's own error lines when it rejected the candidate (only on failure).
  returned: failure
  type: list
  elements: str
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.argspec import (  # noqa: E402
    SWITCHING_MUTUALLY_EXCLUSIVE,
    SWITCHING_REQUIRED_IF,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (  # noqa: E402
    InputError,
    SwitchyardError,
    fail_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.staging import (  # noqa: E402
    TWO_PHASE_REQUIRED_IF,
    parse_commit_at,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.process import (  # noqa: E402
    Haproxy,
    check_programs,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import RuntimeApi  # noqa: E402
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.spec import (  # noqa: E402
    argument_spec,
    build_spec,
    check_params,
    default_path,
    resolve_state_file,
    validate_name,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.twophase import (  # noqa: E402
    StagedBackendSwitch,
)


def _prepare(module, params):
    """The validated spec (None for state=absent) and the haproxy binary; InputError before anything changes."""
    check_params(params)
    validate_name(params["name"], "name")
    params["state_file"] = resolve_state_file(params["name"], params["state_file"])
    spec = build_spec(params) if params["state"] == "present" else None
    binary = check_programs(module, params)
    if params["state_file"] and not os.path.isdir(os.path.dirname(params["state_file"])):
        raise InputError(f"the directory of state_file {params['state_file']} does not exist: create it, "
                         "or set state_file to '' for no state file")
    return spec, binary


def _run_phase(switch, spec, params, commit_at):
    """The run the phase asks for (apply: the switch as always)."""
    phase = params["phase"]
    if phase == "stage":
        return switch.stage(spec, params["name"], params["stage_id"], params["stage_ttl"])
    if phase == "commit":
        return switch.commit(spec, params["name"], params["state_file"], params["stage_id"], commit_at)
    if phase == "abort":
        return switch.abort(spec, params["stage_id"])
    return switch.run(spec, params["name"], params["state_file"])


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=SWITCHING_MUTUALLY_EXCLUSIVE,
        required_if=SWITCHING_REQUIRED_IF + TWO_PHASE_REQUIRED_IF,
        supports_check_mode=True,
    )
    params = module.params
    try:
        spec, binary = _prepare(module, params)
        commit_at = parse_commit_at(params["commit_at"]) if params["phase"] == "commit" else None
    except SwitchyardError as exc:
        fail_module(module, exc)

    path = params["path"] or default_path(params["name"])
    haproxy = Haproxy(module, binary, params["haproxy_config"], params["reload_command"])
    api = RuntimeApi(params["admin_socket"], timeout=params["socket_timeout"])
    switch = StagedBackendSwitch(
        module, haproxy, api, path,
        apply=params["apply"], reload_timeout=params["reload_timeout"], drain_timeout=params["drain_timeout"],
        backup=params["backup"], lock_timeout=params["lock_timeout"],
    )
    try:
        result = _run_phase(switch, spec, params, commit_at)
    except SwitchyardError as exc:
        fail_module(module, exc, switch.warnings, path=path)
    for warning in switch.warnings:
        module.warn(warning)
    result["state_file"] = params["state_file"]
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
