#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_upstream
short_description: Switch an application's live nginx upstream between blue and green pools
version_added: 0.1.0
description:
  - Owns one file of nginx C(upstream) blocks for one application. The live upstream O(name) points at the
    active colour's servers, or splits traffic between colours by O(weights).
  - Optionally also manages the upstream C(<name>_preview), which points at the idle colour so it can be
    tested through nginx before the switch.
  - The change is safe. The module takes a lock in O(state_dir) (concurrent runs serialise), writes the
    candidate atomically, runs C(nginx -T) (test and include check), reloads nginx and confirms that a new
    worker generation appeared. On any failure the previous file is restored byte for byte and the task fails
    with nginx's own error lines, so traffic stays on the colour that was live.
  - The file carries one metadata comment line (JSON) with the active colour, weights, pools, preview target
    and when and from what the last switch happened; M(switchyard.bluegreen.nginx_upstream_info) reads it.
  - The module never starts nginx; it fails when nginx is not running and O(reload=true).
  - For a fleet of load balancers the switch can run in two phases (O(phase)), so that every load balancer
    applies the change at one agreed instant instead of one after the other as Ansible reaches them. V(stage)
    tests the candidate on each host and keeps it as a stage record, V(commit) applies it at O(commit_at).
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_nginx
  - switchyard.bluegreen.switching
attributes:
  action_group:
    description:
      - Use C(group/switchyard.bluegreen.nginx) (options of the nginx modules, such as O(nginx_conf)) or
        C(group/switchyard.bluegreen.bluegreen) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - switchyard.bluegreen.bluegreen
      - switchyard.bluegreen.nginx
  check_mode:
    support: full
    details:
      - Predicts C(changed), returns the diff, and takes no lock and writes nothing.
      - It runs one read-only C(nginx -T) and fails, with the real run's message, where nginx would refuse the
        change (an upstream of that name elsewhere without O(adopt), a path no include loads, options the
        including context does not have, a configuration that fails its test already). With O(adopt=true) the
        diff shows the adopted file's change too.
  diff_mode:
    support: full
    details:
      - Shows the managed file before and after.
  idempotent:
    support: full
    details:
      - A run that asks for the state already in the file writes nothing and does not reload.
options:
  name:
    description:
      - Name of the live upstream, as used in C(proxy_pass http://<name>).
      - Letters, digits and V(_) only (1-64 characters).
    type: str
    required: true
  weights:
    description:
      - A traffic split, colour to integer from V(0) to V(1000), at least one above V(0); colours of
        O(pools) left out get V(0).
      - The weights are shares of traffic per colour, not per server; pools of different sizes keep the split.
      - Colours with weight V(0) get no traffic (or are listed as backup servers with O(idle_backup=true)).
    type: dict
  preview:
    description:
      - Also manage the upstream C(<name>_preview), pointing at the idle colour (see O(preview_color)).
    type: bool
    default: false
  preview_color:
    description:
      - The colour that C(<name>_preview) points at.
      - Default with O(active) and two pools is the other colour; with O(weights) the colour with the single
        lowest weight. Required when that is ambiguous.
      - The old spelling O(preview_colour) is a deprecated alias.
    type: str
    aliases: [preview_colour]
  path:
    description:
      - The managed file. Default C(<conf_dir>/bluegreen_<name>.conf).
      - It must be loaded by an C(include) of nginx's configuration; the module checks that with C(nginx -T).
        Any include works (C(conf.d/*.conf), Debian's C(sites-enabled/*), a C(stream {}) include).
      - An existing file without the module's metadata line is never overwritten.
    type: path
  conf_dir:
    description:
      - Directory of the default O(path) (ignored when O(path) is set), as in
        M(switchyard.bluegreen.nginx_upstream_info).
      - Default C(<directory of nginx_conf>/conf.d) when O(nginx_conf) is set, else C(/etc/nginx/conf.d).
    type: path
  state_dir:
    description:
      - Directory for the auxiliary files (the backup C(.previous), the lock and the reload-pending marker),
        stored under the managed file's absolute path (for example
        C(/var/lib/switchyard/nginx/etc/nginx/conf.d/bluegreen_shop.conf.previous)).
      - It must be outside every directory nginx includes; each run checks that no include of C(nginx -T) can
        load any of these files and fails (restoring the managed file) when one could.
      - A C(<path>.previous) left next to the managed file by an earlier version is moved here on the next run,
        with a warning.
    type: path
    default: /var/lib/switchyard/nginx
  adopt:
    description:
      - Take over an C(upstream <name>) (and C(<name>_preview) with O(preview=true)) that the configuration
        already defines in another file, found with C(nginx -T).
      - In one locked run the block is removed from that file (replaced by a one-line comment; everything else
        in the file is kept byte for byte, its previous content kept in O(state_dir) as C(.adopted)), the managed
        file is written, tested and reloaded. On any failure both files are put back exactly.
      - Adopting again when the block is gone changes nothing. Without O(adopt), a duplicate definition fails
        with the file and line of the other definition.
    type: bool
    default: false
  keepalive:
    description:
      - Idle keepalive connections to the upstream servers per worker (nginx C(keepalive)); V(0) disables.
      - Proxy sites need C(proxy_http_version 1.1) and an empty C(Connection) header to use them.
    type: int
    default: 0
  balance:
    description:
      - Load-balancing method of the upstreams.
      - V(hash) needs O(hash_key). nginx does not allow backup servers with V(ip_hash), V(hash) or V(random),
        so these cannot be combined with O(idle_backup=true).
    type: str
    choices: [round_robin, least_conn, ip_hash, hash, random]
    default: round_robin
  hash_key:
    description:
      - Key for O(balance=hash), for example V($remote_addr) or V($cookie_session).
    type: str
  idle_backup:
    description:
      - List the idle colour's servers in the live upstream with C(backup), so nginx falls back to them when
        every active server is unavailable.
    type: bool
    default: false
  server_options:
    description:
      - Parameters added to every C(server) line. Unknown keys are rejected; C(weight) is managed through
        O(weights) and C(backup) through O(idle_backup).
    type: dict
    suboptions:
      max_fails:
        description: Failed attempts within O(server_options.fail_timeout) before a server is considered unavailable.
        type: int
      fail_timeout:
        description: nginx duration such as V(10s) or V(500ms) (a bare number is seconds).
        type: str
      max_conns:
        description: Limit of simultaneous connections to one server (V(0) = no limit).
        type: int
  reload:
    description:
      - Reload nginx after a change and confirm that a new worker generation took over.
      - With V(false) the file is only written and tested.
    type: bool
    default: true
  reload_command:
    description:
      - Command (argument list, no shell) that reloads nginx, for example V([systemctl, reload, nginx]).
      - Default C(<nginx_binary> [-c <nginx_conf>] -s reload).
    type: list
    elements: str
  reload_timeout:
    description:
      - Seconds to wait for the new worker generation after the reload before the switch is undone.
    type: float
    default: 5
  drain_timeout:
    description:
      - Seconds to wait for the previous worker generation to exit (it finishes open requests first).
      - V(0) does not wait. When the time runs out the switch still succeeds, with a warning and C(drained=false).
    type: float
    default: 30
  backup:
    description:
      - Keep the previous managed file in O(state_dir) as C(<state_dir>/<path>.previous) (outside every include
        directory, so nginx never loads it), for a manual rollback with
        C(cp -p <state_dir>/<path>.previous <path> && nginx -t && nginx -s reload).
      - With O(adopt=true) also keeps the adopted file's previous content as C(<state_dir>/<that path>.adopted).
    type: bool
    default: true
  nginx_binary:
    description: The nginx program; a name is looked up on C(PATH) and the sbin directories.
    type: str
    default: nginx
  nginx_conf:
    description:
      - nginx's main configuration file, passed as C(-c) to every nginx command. Default is nginx's compiled-in one.
    type: path
  nginx_prefix:
    description:
      - nginx's prefix, passed as C(-p) to every nginx command, for an instance started with C(nginx -p <prefix>).
      - A relative C(pid) path of the configuration resolves against it, as nginx does.
    type: path
  phase:
    description:
      - V(apply) writes, tests, reloads and drains in one run (the default, one host at a time).
      - V(stage) is phase one of a fleet switch. Under the file's lock it writes the candidate in place, runs
        C(nginx -T) and every check V(apply) does, then puts the previous file back byte for byte, and keeps the
        candidate as a stage record in O(state_dir) (with O(stage_id), the hash of the file it was computed from
        and an expiry after O(stage_ttl)). It never reloads nginx, so C(changed) is V(false) and the managed file
        is unchanged afterwards (nginx could load the candidate only if something else reloaded it during those
        few milliseconds). When the file already holds the requested state, the record only says so.
        A failed test fails the task with nginx's error lines, as V(apply) does, and stages nothing.
      - V(commit) is phase two. It refuses when the record is missing, expired, of another O(stage_id), when the
        managed file changed since the stage, or when the task's arguments describe another change than the
        staged one (give stage and commit the same arguments). It prepares everything (the candidate in a temp
        file next to the managed file, nginx's master pid), sleeps until O(commit_at), then renames the file into
        place and reloads nginx (C(SIGHUP) to the master, or O(reload_command) when set). When no new worker
        generation appears within O(reload_timeout), the previous file is restored, nginx is reloaded once more
        and the task fails, with the reason C(nginx -t) gives in C(nginx_errors). The stage record is removed
        either way.
      - V(abort) removes the stage record of O(stage_id), if it is still there; it never touches the managed file.
      - An V(apply) or a V(stage) of another O(stage_id) supersedes an unexpired stage record (with a warning) and
        removes an expired one, so a later run always wins and a stale stage never blocks one. A killed commit
        leaves the managed file either as it was or (after the rename) with the candidate and the reload-pending
        marker, so the next run reloads.
      - V(stage) and V(commit) cannot be combined with O(state=absent) or O(adopt=true).
    type: str
    choices: [apply, stage, commit, abort]
    default: apply
    version_added: 0.2.0
  stage_id:
    description:
      - Identifies one fleet switch; the same value on every host, for example the job id or a timestamp.
      - Required with O(phase=stage), O(phase=commit) and O(phase=abort); ignored with O(phase=apply).
    type: str
    version_added: 0.2.0
  stage_ttl:
    description:
      - Seconds a stage waits for its commit. After that the record expires, a commit of it is refused and the
        next run on the host removes it; the staged candidate is then never applied.
      - Used with O(phase=stage).
    type: float
    default: 60
    version_added: 0.2.0
  commit_at:
    description:
      - With O(phase=commit), the wall-clock instant at which the host applies the staged change, as a UTC time in
        ISO 8601 (V(2026-11-29T19:30:00.250Z); a time without a zone is refused) or epoch seconds. Empty means now.
      - Pick it a little after the slowest stage returned, so every host is asleep in its commit by then; a host
        that starts its commit late applies at once and reports C(commit_late_ms). It must be before the stage
        expires and at most 600 s ahead.
      - The skew across the fleet is then the hosts' clock skew plus their reload time; keep the clocks
        synchronised (NTP).
    type: str
    version_added: 0.2.0
  state:
    description:
      - V(absent) removes the managed file, after checking that nginx's configuration is still valid
        without it (it is restored when it is not), and reloads nginx.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Only servers of the listed colours are in the file; the proxy sites (C(proxy_pass http://<name>)) stay yours.
  - Works on the usual layouts (Debian C(sites-enabled/*) and C(conf.d/*.conf), RHEL C(conf.d/*.conf), prefix
    installs, C(stream {}) upstreams); see docs/nginx_upstream.md, "Real layouts".
  - In C(stream {}) (TCP/UDP) nginx has no C(keepalive) and no C(ip_hash); the module refuses them there.
  - New nginx workers take over some 10-50 ms after the reload; old workers finish their open requests, so for
    a short time both colours answer. Wait for C(drained) before stopping the old colour.
seealso:
  - module: switchyard.bluegreen.nginx_upstream_info
"""

EXAMPLES = r"""
- name: Send all traffic of shop to green, keep shop_preview on blue
  switchyard.bluegreen.nginx_upstream:
    name: shop
    pools:
      blue: ["10.0.0.11:8080", "10.0.0.12:8080"]
      green: ["10.0.1.11:8080", "10.0.1.12:8080"]
    active: green
    preview: true
    keepalive: 32
  register: switch

- name: Canary, 10 % of the traffic to green
  switchyard.bluegreen.nginx_upstream:
    name: shop
    pools:
      blue: ["10.0.0.11:8080"]
      green: ["10.0.1.11:8080"]
    weights:
      blue: 90
      green: 10

- name: Idle colour as backup servers, with health parameters, reloaded through systemd
  switchyard.bluegreen.nginx_upstream:
    name: shop
    pools:
      blue: ["unix:/run/shop-blue.sock"]
      green: ["[fd00::11]:8080"]
    active: blue
    idle_backup: true
    balance: least_conn
    server_options:
      max_fails: 3
      fail_timeout: 10s
    reload_command: [systemctl, reload, nginx]
    drain_timeout: 60

- name: Bring an existing "upstream shop { ... }" of a Debian site under blue-green
  switchyard.bluegreen.nginx_upstream:
    name: shop
    path: /etc/nginx/conf.d/bluegreen_shop.conf
    pools:
      blue: ["127.0.0.1:8080"]
      green: ["127.0.0.1:8081"]
    active: blue
    adopt: true

# A fleet switch in two phases, every load balancer applying at one instant. These tasks run in a play over all
# load balancers with forks at least their number: each host sleeps in its commit until commit_at.
- name: Pick one stage_id for the whole fleet
  ansible.builtin.set_fact:
    switch_id: "shop-{{ now().strftime('%Y%m%dT%H%M%S%f') }}"
  run_once: true

- name: Stage on every load balancer (write, test, put the file back; no reload)
  switchyard.bluegreen.nginx_upstream:
    name: shop
    pools:
      blue: ["10.0.0.11:8080"]
      green: ["10.0.1.11:8080"]
    active: green
    phase: stage
    stage_id: "{{ switch_id }}"
    stage_ttl: 60
  any_errors_fatal: true

- name: Pick the commit instant 2 s after the slowest stage returned (epoch seconds)
  ansible.builtin.set_fact:
    commit_instant: "{{ '%.3f' | format(now().timestamp() + 2) }}"
  run_once: true

- name: Commit on every load balancer at that instant (same arguments as the stage)
  switchyard.bluegreen.nginx_upstream:
    name: shop
    pools:
      blue: ["10.0.0.11:8080"]
      green: ["10.0.1.11:8080"]
    active: green
    phase: commit
    stage_id: "{{ switch_id }}"
    commit_at: "{{ commit_instant }}"
  register: committed

- name: Where a load balancer could not commit, drop its stage (it would expire after stage_ttl anyway)
  switchyard.bluegreen.nginx_upstream:
    name: shop
    pools:
      blue: ["10.0.0.11:8080"]
      green: ["10.0.1.11:8080"]
    active: green
    phase: abort
    stage_id: "{{ switch_id }}"
  when: committed is failed

- name: Remove the managed upstreams of shop
  switchyard.bluegreen.nginx_upstream:
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
preview:
  description: The colour the preview upstream points at (null without preview).
  returned: always
  type: str
  sample: blue
switched_at:
  description: When the traffic selection last changed (UTC, ISO 8601), from the file's metadata.
  returned: always
  type: str
  sample: "2026-11-27T04:40:00Z"
path:
  description: The managed file.
  returned: always
  type: str
  sample: /etc/nginx/conf.d/bluegreen_shop.conf
backup_file:
  description: The copy of the previous file, in O(state_dir) (null when nothing was replaced).
  returned: always
  type: str
  sample: /var/lib/switchyard/nginx/etc/nginx/conf.d/bluegreen_shop.conf.previous
adopted:
  description: The files an O(adopt=true) run took upstream blocks from (empty when none).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The operator's file.
      type: str
    upstreams:
      description: Name and line of each block removed from it.
      type: list
      elements: dict
    backup_file:
      description: Its previous content, in O(state_dir) (null with O(backup=false)).
      type: str
  sample: [{"path": "/etc/nginx/sites-enabled/shop", "upstreams": [{"name": "shop", "line": 1}],
            "backup_file": "/var/lib/switchyard/nginx/etc/nginx/sites-enabled/shop.adopted"}]
reloaded:
  description: nginx was reloaded and a new worker generation took over.
  returned: always
  type: bool
reloaded_at:
  description:
    - UTC time, to the millisecond, at which the new worker generation was seen (null without a reload).
    - Comparing it across load balancers gives the skew between the first and the last to serve the new
      configuration; that needs synchronised clocks (NTP).
  returned: always
  type: str
  sample: "2026-11-27T08:10:03.412Z"
drained:
  description: The previous worker generation was seen to exit within O(drain_timeout).
  returned: always
  type: bool
timings:
  description: Milliseconds spent per step (null for a step that did not run).
  returned: always
  type: dict
  contains:
    lock_ms:
      description: Waiting for the lock.
      type: int
    validate_ms:
      description: C(nginx -T) on the candidate.
      type: int
    reload_ms:
      description: From sending the reload until the new worker generation appeared.
      type: int
    drain_ms:
      description: From the new generation until the old one exited (or the timeout).
      type: int
    total_ms:
      description: The whole module run after argument parsing.
      type: int
  sample: {"lock_ms": 0, "validate_ms": 9, "reload_ms": 24, "drain_ms": 118, "total_ms": 160}
staged:
  description:
    - O(phase=stage) kept a stage record of the tested candidate (V(false) for the other phases and in check mode).
  returned: always
  type: bool
  version_added: 0.2.0
stage_id:
  description: The O(stage_id) of a two-phase run (null with O(phase=apply)).
  returned: always
  type: str
  sample: shop-20261129T193000123456
  version_added: 0.2.0
stage_expires_at:
  description: When the stage record expires (UTC, ISO 8601 with milliseconds; only with O(phase=stage)).
  returned: always
  type: str
  sample: "2026-11-29T19:31:00.125Z"
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
    - When this host renamed the staged file into place (UTC, ISO 8601 with milliseconds; null unless a
      O(phase=commit) applied a change). The reload was sent right after it; C(reloaded_at) says when the new
      worker generation served.
  returned: always
  type: str
  sample: "2026-11-29T19:30:02.001Z"
  version_added: 0.2.0
commit_late_ms:
  description:
    - How many milliseconds after O(commit_at) this host started its commit (V(0) when it was waiting in time;
      null unless O(phase=commit) applied a change). A late host applies at once, with a warning when over 1 s.
  returned: always
  type: float
  sample: 0.0
  version_added: 0.2.0
nginx_errors:
  description: nginx's own error lines when it rejected the candidate (only on failure).
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.argspec import (  # noqa: E402
    SWITCHING_MUTUALLY_EXCLUSIVE,
    SWITCHING_REQUIRED_IF,
    check_reload_command,
    check_seconds,
    renamed_option,
    switching_argument_spec,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (  # noqa: E402
    SwitchyardError,
    fail_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.staging import (  # noqa: E402
    TWO_PHASE_REQUIRED_IF,
    check_phase_options,
    two_phase_argument_spec,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import (  # noqa: E402
    Nginx,
    check_programs,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import (  # noqa: E402
    BALANCE_METHODS,
    DEFAULT_STATE_DIR,
    build_spec,
    check_phase,
    default_path,
    validate_name,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.switch import (  # noqa: E402
    UpstreamSwitch,
    run_phase,
)


def argument_spec():
    return switching_argument_spec(
        name={"type": "str", "required": True},
        preview={"type": "bool", "default": False},
        preview_color=renamed_option("preview_colour", type="str"),
        path={"type": "path"},
        conf_dir={"type": "path"},
        state_dir={"type": "path", "default": DEFAULT_STATE_DIR},
        adopt={"type": "bool", "default": False},
        keepalive={"type": "int", "default": 0},
        balance={"type": "str", "default": "round_robin", "choices": list(BALANCE_METHODS)},
        hash_key={"type": "str", "no_log": False},
        idle_backup={"type": "bool", "default": False},
        server_options={"type": "dict", "options": {
            "max_fails": {"type": "int"},
            "fail_timeout": {"type": "str"},
            "max_conns": {"type": "int"},
        }},
        reload={"type": "bool", "default": True},
        reload_command={"type": "list", "elements": "str"},
        reload_timeout={"type": "float", "default": 5},
        drain_timeout={"type": "float", "default": 30},
        nginx_binary={"type": "str", "default": "nginx"},
        nginx_conf={"type": "path"},
        nginx_prefix={"type": "path"},
        **two_phase_argument_spec(),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=SWITCHING_MUTUALLY_EXCLUSIVE,
        required_if=SWITCHING_REQUIRED_IF + TWO_PHASE_REQUIRED_IF,
        supports_check_mode=True,
    )
    params = module.params
    path = None
    switch = None
    try:
        check_seconds(params, at_least_zero=("reload_timeout", "drain_timeout", "lock_timeout"))
        check_reload_command(params, "[systemctl, reload, nginx]")
        check_phase_options(params)
        check_phase(params)
        if params["state"] == "present":
            spec = build_spec(params)
        else:
            validate_name(params["name"], "name")
            spec = None
        path = params["path"] or default_path(params["name"], params["conf_dir"], params["nginx_conf"])
        binary = check_programs(module, params)
        nginx = Nginx(module, binary, params["nginx_conf"], params["reload_command"], params["nginx_prefix"])
        switch = UpstreamSwitch(
            module, nginx, path,
            reload=params["reload"], reload_timeout=params["reload_timeout"], drain_timeout=params["drain_timeout"],
            backup=params["backup"], lock_timeout=params["lock_timeout"], state_dir=params["state_dir"],
            adopt=params["adopt"], name=params["name"],
        )
        result = run_phase(switch, spec, params)
    except SwitchyardError as exc:
        extra = {"path": path} if path else {}
        if switch is not None and "nginx_errors" not in (getattr(exc, "details", None) or {}):
            extra["nginx_errors"] = []
        fail_module(module, exc, warnings=switch.warnings if switch else (), **extra)
    for warning in switch.warnings:
        module.warn(warning)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
