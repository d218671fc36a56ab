#!/usr/bin/python
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_backend_info
short_description: Report which colour an HAProxy blue-green backend sends traffic to, persisted and running
version_added: 0.1.0
description:
  - Reads the files managed by M(switchyard.bluegreen.haproxy_backend) and reports, per backend, the persisted
    state (active colour, weights, pools, when and from what the last switch happened, per-server states) and,
    through the admin socket, the running state of every server (ready, drain or maint, weight, health, current
    sessions).
  - C(drift) lists how the running state differs from the persisted one (someone used the socket by hand, or
    HAProxy was reloaded with another state file); M(switchyard.bluegreen.haproxy_backend) converges it.
  - Give O(path) for one file, O(name) for one backend in O(conf_dir), or neither to list every managed file in
    O(conf_dir). A missing or unreadable admin socket is reported in C(runtime_error), not a failure.
author:
  - Switchyard maintainers (@switchyard)
extends_documentation_fragment:
  - switchyard.bluegreen.attributes
  - switchyard.bluegreen.attributes.actiongroup_haproxy
  - switchyard.bluegreen.attributes.info_module
options:
  name:
    description: Backend name; reads C(<conf_dir>/bluegreen_<name>.cfg).
    type: str
  path:
    description: One managed file.
    type: path
  conf_dir:
    description: Directory searched for managed C(*.cfg) files (files without the metadata line are skipped).
    type: path
    default: /etc/haproxy/conf.d
  admin_socket:
    description: HAProxy's admin socket, for the running state.
    type: path
    default: /run/haproxy/admin.sock
  runtime:
    description: Read the running state through O(admin_socket). V(false) reports the files only.
    type: bool
    default: true
  socket_timeout:
    description: Seconds to wait for one answer on the admin socket.
    type: float
    default: 5
seealso:
  - module: switchyard.bluegreen.haproxy_backend
"""

EXAMPLES = r"""
- name: Which colour is live for shop?
  switchyard.bluegreen.haproxy_backend_info:
    name: shop
  register: shop_lb

- name: Show it, and complain about drift
  ansible.builtin.debug:
    msg: >-
      shop is on {{ shop_lb.backends.shop.active }} since {{ shop_lb.backends.shop.switched_at }};
      drift: {{ shop_lb.backends.shop.drift | join('; ') | default('none', true) }}
"""

RETURN = r"""
backends:
  description: Managed backends by name.
  returned: always
  type: dict
  sample:
    shop:
      name: shop
      path: /etc/haproxy/conf.d/bluegreen_shop.cfg
      active: green
      weights: null
      pools: {"blue": ["10.0.0.11:8080"], "green": ["10.0.1.11:8080"]}
      old_state: drain
      previous_active: blue
      previous_weights: null
      switched_at: "2026-11-27T05:40:00Z"
      updated_at: "2026-11-27T05:40:00Z"
      state_file: /var/lib/haproxy/bluegreen_shop.state
      consistent: true
      servers:
        blue-1: {"color": "blue", "colour": "blue", "address": "10.0.0.11:8080", "state": "drain", "weight": 0}
      runtime: {"blue-1": {"state": "drain", "weight": 1, "health": "up", "sessions": 0}}
      runtime_active: green
      drift: []
      in_sync: true
      runtime_error: null
  contains:
    name:
      description: Backend name.
      type: str
    path:
      description: The managed file.
      type: str
    active:
      description: The persisted colour taking all live traffic (null when weights split it).
      type: str
    weights:
      description: The persisted traffic split per colour (null with an active colour).
      type: dict
    pools:
      description: Colour to servers.
      type: dict
    old_state:
      description: What idle servers are put in (drain or maint).
      type: str
    balance:
      description: Load-balancing algorithm.
      type: str
    health_check_path:
      description: Path of the HTTP health check (null without one).
      type: str
    server_options:
      description: Parameters of every server line.
      type: dict
    state_file:
      description: The backend's server-state file (null when none is used).
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
    module_version:
      description: Collection version that wrote the file.
      type: str
    consistent:
      description: The backend section is exactly what the metadata describes (false after a manual edit).
      type: bool
    servers:
      description:
        - Persisted state per server name (C(color), address, state, weight).
        - Each entry also has C(colour), the same value under its old name; it is deprecated and will be
          removed in release 1.0.0, use C(color).
      type: dict
    runtime:
      description:
        - Running state per server (state, weight, health, admin_state, address, sessions); null when the
          admin socket could not be read or the running HAProxy has no such backend.
      type: dict
    runtime_active:
      description: The one colour whose servers take traffic in the running HAProxy (null when split or unknown).
      type: str
    drift:
      description: How the running state differs from the persisted one, one sentence per server.
      type: list
      elements: str
    in_sync:
      description: The running state matches the persisted one (false when it could not be read).
      type: bool
    runtime_error:
      description: Why the running state could not be read (null when it was).
      type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (  # noqa: E402
    SwitchyardError,
    fail_module,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.managed import read_managed  # noqa: E402
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.plan import drift_between  # noqa: E402
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.render import OWNER, describe  # noqa: E402
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.runtime import (  # noqa: E402
    RuntimeApi,
    RuntimeApiError,
    current_sessions,
    runtime_colours,
    runtime_view,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.spec import (  # noqa: E402
    DEFAULT_ADMIN_SOCKET,
    DEFAULT_CONF_DIR,
    default_path,
    validate_name,
)


def _add_runtime(info, api):
    info.update(runtime=None, runtime_active=None, drift=[], in_sync=False, runtime_error=None)
    try:
        rows = api.servers_state(info["name"])
        if rows is None:
            info["runtime_error"] = (f"the running HAProxy has no backend {info['name']}: the file is not loaded yet "
                                     "(reload HAProxy, or check that its -f arguments include the file)")
            return
        view = runtime_view(rows)
        sessions = current_sessions(api.stat(), info["name"], list(view))
    except RuntimeApiError as exc:
        info["runtime_error"] = str(exc)
        return
    for server, entry in view.items():
        entry["sessions"] = sessions.get(server, 0)
    info["runtime"] = view
    serving = runtime_colours(view, info["servers"] or {})
    info["runtime_active"] = serving[0] if len(serving) == 1 else None
    if info["servers"] is not None:
        info["drift"] = drift_between(view, info["servers"])
        info["in_sync"] = not info["drift"]


def _backends(params):
    """Name -> persisted state of the one backend asked for, or of every managed backend in conf_dir."""
    path = params["path"]
    if params["name"]:
        validate_name(params["name"], "name")
        path = path or default_path(params["name"], params["conf_dir"])
    return read_managed(describe, owner=OWNER, kind="backend", conf_dir=params["conf_dir"], pattern="*.cfg",
                        path=path)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str"},
            "path": {"type": "path"},
            "conf_dir": {"type": "path", "default": DEFAULT_CONF_DIR},
            "admin_socket": {"type": "path", "default": DEFAULT_ADMIN_SOCKET},
            "runtime": {"type": "bool", "default": True},
            "socket_timeout": {"type": "float", "default": 5},
        },
        mutually_exclusive=[("name", "path")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        backends = _backends(params)
    except SwitchyardError as exc:
        fail_module(module, exc)
    if params["runtime"]:
        api = RuntimeApi(params["admin_socket"], timeout=params["socket_timeout"])
        for info in backends.values():
            _add_runtime(info, api)
    module.exit_json(changed=False, backends=backends)


if __name__ == "__main__":
    main()
