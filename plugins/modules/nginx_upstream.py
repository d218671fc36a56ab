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
  - The change is safe. The module takes a lock next to the file (concurrent runs serialise), writes the
    candidate atomically, runs C(nginx -T) (test and include check), reloads nginx and confirms that a new
    worker generation appeared. On any failure the previous file is restored byte for byte and the task fails
    with nginx's own error lines, so traffic stays on the colour that was live.
  - The file carries one metadata comment line (JSON) with the active colour, weights, pools, preview target
    and when and from what the last switch happened; M(switchyard.bluegreen.nginx_upstream_info) reads it.
  - The module never starts nginx; it fails when nginx is not running and O(reload=true).
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup
attributes:
  check_mode:
    support: full
    details:
      - Predicts C(changed), returns the diff, and takes no lock, writes nothing and runs no nginx command.
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
  pools:
    description:
      - Colour to list of servers. At least two colours; colour names use letters, digits and V(_).
      - A server is C(host:port), C([ipv6]:port) or C(unix:/path). Whitespace, quotes, V(;), V({), V(}),
        V($), V(#) and backslashes are rejected so a server string can never inject nginx syntax.
      - A server may appear in one colour only.
      - Required when O(state=present).
    type: dict
  active:
    description:
      - The colour that takes all live traffic. Must be a key of O(pools).
      - Mutually exclusive with O(weights); one of the two is required when O(state=present).
    type: str
  weights:
    description:
      - A traffic split, colour to integer from V(0) to V(1000), at least one above V(0); colours of
        O(pools) left out get V(0).
      - The weights are shares of traffic per colour, not per server; pools of different sizes keep the split.
      - Colours with weight V(0) get no traffic (or are listed as backup servers with O(idle_backup=true)).
    type: dict
  preview:
    description:
      - Also manage the upstream C(<name>_preview), pointing at the idle colour (see O(preview_colour)).
    type: bool
    default: false
  preview_colour:
    description:
      - The colour that C(<name>_preview) points at.
      - Default with O(active) and two pools is the other colour; with O(weights) the colour with the single
        lowest weight. Required when that is ambiguous.
    type: str
  path:
    description:
      - The managed file. Default C(/etc/nginx/conf.d/bluegreen_<name>.conf).
      - It must be loaded by an C(include) of nginx's configuration; the module checks that with C(nginx -T).
      - An existing file without the module's metadata line is never overwritten.
    type: path
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
      - Keep the previous file as C(<path>.previous) (a name that C(*.conf) includes do not load), for a
        manual rollback with C(cp -p <path>.previous <path> && nginx -t && nginx -s reload).
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for another run on the same file to finish.
    type: float
    default: 60
  nginx_binary:
    description: The nginx program; a name is looked up on C(PATH) and the sbin directories.
    type: str
    default: nginx
  nginx_conf:
    description:
      - nginx's main configuration file, passed as C(-c) to every nginx command. Default is nginx's compiled-in one.
    type: path
  state:
    description:
      - V(absent) removes the managed file, after checking that nginx's configuration is still valid
        without it (it is restored when it is not), and reloads nginx.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Only servers of the listed colours are in the file; the proxy sites (C(proxy_pass http://<name>)) stay yours.
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
  description: The copy of the previous file (null when nothing was replaced).
  returned: always
  type: str
  sample: /etc/nginx/conf.d/bluegreen_shop.conf.previous
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
nginx_errors:
  description: nginx's own error lines when it rejected the candidate (only on failure).
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx_process import Nginx  # noqa: E402
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx_upstream import (  # noqa: E402
    SwitchError,
    UpstreamError,
    UpstreamSwitch,
    build_spec,
    check_programs,
    default_path,
    validate_name,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "pools": {"type": "dict"},
            "active": {"type": "str"},
            "weights": {"type": "dict"},
            "preview": {"type": "bool", "default": False},
            "preview_colour": {"type": "str"},
            "path": {"type": "path"},
            "keepalive": {"type": "int", "default": 0},
            "balance": {"type": "str", "default": "round_robin",
                        "choices": ["round_robin", "least_conn", "ip_hash", "hash", "random"]},
            "hash_key": {"type": "str", "no_log": False},
            "idle_backup": {"type": "bool", "default": False},
            "server_options": {"type": "dict", "options": {
                "max_fails": {"type": "int"},
                "fail_timeout": {"type": "str"},
                "max_conns": {"type": "int"},
            }},
            "reload": {"type": "bool", "default": True},
            "reload_command": {"type": "list", "elements": "str"},
            "reload_timeout": {"type": "float", "default": 5},
            "drain_timeout": {"type": "float", "default": 30},
            "backup": {"type": "bool", "default": True},
            "lock_timeout": {"type": "float", "default": 60},
            "nginx_binary": {"type": "str", "default": "nginx"},
            "nginx_conf": {"type": "path"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        mutually_exclusive=[("active", "weights")],
        required_if=[("state", "present", ("pools",)), ("state", "present", ("active", "weights"), True)],
        supports_check_mode=True,
    )
    params = module.params
    for option in ("reload_timeout", "drain_timeout", "lock_timeout"):
        if params[option] < 0:
            module.fail_json(msg=f"{option}={params[option]}: use a number of seconds >= 0")
    if params["reload_command"] is not None and not params["reload_command"]:
        module.fail_json(msg="reload_command must not be empty: give an argument list like [systemctl, reload, nginx]")
    try:
        if params["state"] == "present":
            spec = build_spec(params)
        else:
            validate_name(params["name"], "name")
            spec = None
    except UpstreamError as exc:
        module.fail_json(msg=str(exc))

    path = params["path"] or default_path(params["name"])
    try:
        binary = check_programs(module, params)
    except UpstreamError as exc:
        module.fail_json(msg=str(exc))
    nginx = Nginx(module, binary, params["nginx_conf"], params["reload_command"])
    switch = UpstreamSwitch(
        module, nginx, path,
        reload=params["reload"], reload_timeout=params["reload_timeout"], drain_timeout=params["drain_timeout"],
        backup=params["backup"], lock_timeout=params["lock_timeout"],
    )
    try:
        result = switch.run(spec)
    except SwitchError as exc:
        for warning in switch.warnings:
            module.warn(warning)
        module.fail_json(msg=str(exc), nginx_errors=exc.nginx_errors, path=path)
    for warning in switch.warnings:
        module.warn(warning)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
