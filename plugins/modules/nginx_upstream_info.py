#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_upstream_info
short_description: Report which colour an nginx blue-green upstream sends traffic to
version_added: 0.1.0
description:
  - Reads the files managed by M(switchyard.bluegreen.nginx_upstream) and reports, per upstream, the active colour,
    the weights, the pools, the preview target, and when and from what the last switch happened.
  - The data comes from the metadata line of the managed file, the same file nginx loads, so the live
    configuration is the single source of truth. C(consistent=false) flags a file whose upstream blocks were
    edited by hand after the module wrote them.
  - Give O(path) for one file, O(name) for one application in O(conf_dir), or neither to list every managed
    file in O(conf_dir).
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_nginx
  - switchyard.bluegreen.attributes.info_module
attributes:
  action_group:
    description:
      - Use C(group/switchyard.bluegreen.nginx) (options of the nginx modules, such as O(nginx_conf)) or
        C(group/switchyard.bluegreen.bluegreen) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - switchyard.bluegreen.bluegreen
      - switchyard.bluegreen.nginx
options:
  name:
    description: Upstream name; reads C(<conf_dir>/bluegreen_<name>.conf).
    type: str
  path:
    description: One managed file.
    type: path
  conf_dir:
    description:
      - Directory searched for managed files, C(*.conf) and (for Debian's C(sites-enabled/*) layout)
        C(bluegreen_*); files without the metadata line are skipped.
      - Default C(<directory of nginx_conf>/conf.d) when O(nginx_conf) is set, else C(/etc/nginx/conf.d), the same
        default as M(switchyard.bluegreen.nginx_upstream) uses for its file.
    type: path
  check_included:
    description:
      - Also run C(nginx -T) once and report per upstream whether nginx loads the file (C(included)), and which
        server blocks are C(default_server) (RV(default_servers)).
      - Fails when nginx's configuration does not pass the test.
    type: bool
    default: false
  nginx_binary:
    description:
      - The nginx program, used with O(check_included=true). Accepted so that C(module_defaults) for the
        action group can set it for both modules.
    type: str
    default: nginx
  nginx_conf:
    description:
      - nginx's main configuration file (C(-c)), used with O(check_included=true).
      - Also sets the default O(conf_dir), as in M(switchyard.bluegreen.nginx_upstream).
    type: path
  nginx_prefix:
    description: nginx's prefix (C(-p)), used with O(check_included=true).
    type: path
  state_dir:
    description:
      - The state directory of M(switchyard.bluegreen.nginx_upstream), where it keeps each file's backup;
        reported per upstream as RV(upstreams.backup_file).
    type: path
    default: /var/lib/switchyard/nginx
seealso:
  - module: switchyard.bluegreen.nginx_upstream
"""

EXAMPLES = r"""
- name: Which colour is live for shop?
  switchyard.bluegreen.nginx_upstream_info:
    name: shop
  register: shop_lb

- name: Show it
  ansible.builtin.debug:
    msg: "shop is on {{ shop_lb.upstreams.shop.active }} since {{ shop_lb.upstreams.shop.switched_at }}"

- name: Every managed upstream on the host
  switchyard.bluegreen.nginx_upstream_info:
    conf_dir: /etc/nginx/conf.d
  register: all_upstreams
"""

RETURN = r"""
default_servers:
  description:
    - The C(listen) directives with C(default_server) that nginx loads, from C(nginx -T) (with O(check_included=true)).
    - The nginx role uses it to never take C(default_server) from a site that already has it.
  returned: when O(check_included=true)
  type: list
  elements: dict
  contains:
    path:
      description: The file of the directive.
      type: str
    line:
      description: Its line.
      type: int
    listen:
      description: The address (first argument of C(listen)).
      type: str
    port:
      description: The port (80 when the address has none; null for a unix socket).
      type: int
  sample: [{"path": "/etc/nginx/sites-enabled/default", "line": 22, "listen": "80", "port": 80}]
upstreams:
  description: Managed upstreams by name.
  returned: always
  type: dict
  sample:
    shop:
      name: shop
      path: /etc/nginx/conf.d/bluegreen_shop.conf
      active: green
      weights: null
      pools: {"blue": ["10.0.0.11:8080"], "green": ["10.0.1.11:8080"]}
      preview: blue
      preview_upstream: shop_preview
      previous_active: blue
      previous_weights: null
      switched_at: "2026-11-27T04:40:00Z"
      updated_at: "2026-11-27T04:40:00Z"
      balance: round_robin
      idle_backup: false
      keepalive: 32
      server_options: {}
      module_version: 0.1.0
      consistent: true
  contains:
    name:
      description: Upstream name.
      type: str
    path:
      description: The managed file.
      type: str
    active:
      description: The colour taking all live traffic (null when weights split it).
      type: str
    weights:
      description: The traffic split per colour (null with an active colour).
      type: dict
    pools:
      description: Colour to servers.
      type: dict
    preview:
      description: The colour of the preview upstream (null without preview).
      type: str
    preview_upstream:
      description: Name of the preview upstream (null without preview).
      type: str
    previous_active:
      description: The active colour before the last switch.
      type: str
    previous_weights:
      description: The weights before the last switch.
      type: dict
    switched_at:
      description: When the traffic selection last changed (UTC, ISO 8601).
      type: str
    updated_at:
      description: When the module last wrote the file (UTC, ISO 8601).
      type: str
    balance:
      description: Load-balancing method.
      type: str
    idle_backup:
      description: Whether idle servers are listed as backup servers.
      type: bool
    keepalive:
      description: Upstream keepalive connections.
      type: int
    server_options:
      description: Parameters of every server line.
      type: dict
    module_version:
      description: Collection version that wrote the file.
      type: str
    consistent:
      description: The upstream blocks are exactly what the metadata describes (false after a manual edit).
      type: bool
    backup_file:
      description: The backup of the previous file in O(state_dir) (null when there is none).
      type: str
    included:
      description: nginx loads this file (only with O(check_included=true)).
      type: bool
      returned: when O(check_included=true)
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (  # noqa: E402
    SwitchyardError,
    fail_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.managed import read_managed  # noqa: E402
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.config import Config  # noqa: E402
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import (  # noqa: E402
    Nginx,
    NginxError,
    included_files,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.spec import (  # noqa: E402
    DEFAULT_STATE_DIR,
    FILE_PREFIX,
    FORMAT,
    default_conf_dir,
    default_path,
    describe,
    validate_name,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.switch import state_base  # noqa: E402


def default_servers(config):
    """The ``listen ... default_server`` directives nginx loads, with file, line and port."""
    found = []
    for directive in config.find("listen", "server"):
        if not directive.args or not ({"default_server", "default"} & set(directive.args[1:])):
            continue
        address = directive.args[0]
        port = address if address.isdigit() else address.rsplit(":", 1)[-1] if ":" in address else "80"
        found.append({"path": directive.path, "line": directive.line, "listen": address,
                      "port": int(port) if port.isdigit() else None})
    return found


def _mark_included(module, upstreams):
    """Add ``included``: whether ``nginx -T`` lists the file among those it loads; returns the default servers."""
    binary = module.params["nginx_binary"]
    if not os.path.isabs(binary):
        binary = module.get_bin_path(binary, required=True, opt_dirs=["/usr/sbin", "/sbin"])
    try:
        dump = Nginx(module, binary, module.params["nginx_conf"], prefix=module.params["nginx_prefix"]).dump()
    except NginxError as exc:
        raise NginxError(f"{exc}: " + " | ".join(exc.lines), exc.lines) from None
    loaded = {os.path.realpath(name) for name in included_files(dump)}
    for info in upstreams.values():
        info["included"] = os.path.realpath(info["path"]) in loaded
    return default_servers(Config(dump, module.params["nginx_prefix"]))


def _read(params):
    conf_dir = params["conf_dir"] or default_conf_dir(params["nginx_conf"])
    path = params["path"]
    if params["name"]:
        validate_name(params["name"], "name")
        path = default_path(params["name"], conf_dir)
    options = {"owner": FORMAT.owner, "kind": "upstream", "conf_dir": conf_dir}
    if path:
        return read_managed(describe, path=path, pattern="*.conf", **options)
    upstreams = read_managed(describe, pattern="*.conf", **options)
    # Debian's sites-enabled/* loads files without .conf too.
    for name, info in read_managed(describe, pattern=f"{FILE_PREFIX}*", **options).items():
        upstreams.setdefault(name, info)
    return upstreams


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str"},
            "path": {"type": "path"},
            "conf_dir": {"type": "path"},
            "check_included": {"type": "bool", "default": False},
            "nginx_binary": {"type": "str", "default": "nginx"},
            "nginx_conf": {"type": "path"},
            "nginx_prefix": {"type": "path"},
            "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
        },
        mutually_exclusive=[("name", "path")],
        supports_check_mode=True,
    )
    try:
        upstreams = _read(module.params)
        for info in upstreams.values():
            backup = state_base(module.params["state_dir"], info["path"]) + ".previous"
            info["backup_file"] = backup if os.path.exists(backup) else None
        extra = {}
        if module.params["check_included"]:
            extra["default_servers"] = _mark_included(module, upstreams)
    except SwitchyardError as exc:
        fail_module(module, exc)
    module.exit_json(changed=False, upstreams=upstreams, **extra)


if __name__ == "__main__":
    main()
