# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The nginx role on a host that already serves sites: Debian's package layout with an edited default
site (default_server on the port the role wants) and the operator's own `upstream shop`.

The role must leave the edited default site and its default_server alone (and say so), adopt the
existing upstream through nginx_upstream's adopt, and leave a configuration that passes nginx -t
with traffic through both the operator's site and the role's site.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tests.conftest import execute_playbook
from tests.lib.backends import ColourBackend
from tests.lib.nginx_layouts import NGINX, LayoutNginx
from tests.lib.ports import free_port

from .test_layouts import DEBIAN_SITE

PLAYBOOK = """\
- name: Front on a host that already serves sites
  hosts: bluegreen_lb
  gather_facts: false
  tasks:
    - name: Converge the front
      ansible.builtin.include_role:
        name: switchyard.bluegreen.nginx
"""


def test_role_leaves_the_operators_sites_alone_and_adopts_the_upstream():
    root = Path(tempfile.mkdtemp(prefix="switchyard-role-debian-"))
    os.chmod(root, 0o755)  # noqa: S103 - the layout's workers run as www-data
    blue = ColourBackend("blue", "1.0.0").start()
    green = ColourBackend("green", "2.0.0").start()
    nginx = LayoutNginx("debian", root / "nginx", blue.address)
    try:
        site = nginx.add_site("sites-enabled/shop", DEBIAN_SITE.replace("@BLUE@", blue.address)
                              .replace("@PREFIX@", str(nginx.root)), "app")
        # The operator edited the default site (Debian's file, adapted to loopback, is not the package's).
        default_site = nginx.root / "sites-available" / "default"
        default_site.write_text(default_site.read_text().replace("index index.html", "index start.html index.html"))
        nginx.start()
        port = nginx.ports["default"]
        playbook = root / "front.yml"
        playbook.write_text(PLAYBOOK)
        inventory = root / "hosts.ini"
        inventory.write_text(
            f"[bluegreen_lb]\nlb0 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        )
        extra = {
            "nginx_app_name": "shop", "nginx_install": False, "nginx_remove_default_site": True,
            "nginx_default_server": True, "nginx_default_site": str(nginx.root / "sites-enabled" / "default"),
            "nginx_default_site_source": str(default_site), "nginx_conf": str(nginx.main_conf),
            "nginx_config_dir": str(nginx.root / "conf.d"), "nginx_binary": NGINX,
            "nginx_listen_address": "127.0.0.1", "nginx_listen_port": port, "nginx_server_name": "app.test",
            "nginx_preview_port": free_port(), "nginx_drain_timeout": 5,
            "bluegreen_pools": {"blue": [blue.address], "green": [green.address]},
        }
        result = execute_playbook(playbook, inventory=inventory, extra_vars=extra)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        # The edited default site and its default_server stay; the role says so.
        assert (nginx.root / "sites-enabled" / "default").is_symlink()
        assert "was left alone" in output, output[-3000:]
        assert f"default_server on port {port} stays with {nginx.root / 'sites-enabled' / 'default'}" in output
        role_site = nginx.root / "conf.d" / "bluegreen_shop_site.conf"
        assert "default_server" not in role_site.read_text()
        # The operator's upstream moved into the managed file; the rest of the site file is unchanged.
        assert "upstream shop {" not in site.read_text()
        assert "# upstream shop: adopted by switchyard.bluegreen.nginx_upstream" in site.read_text()
        assert site.read_text().endswith(DEBIAN_SITE.split("}\n", 1)[1].replace("@PREFIX@", str(nginx.root))
                                         .replace("@PORT@", str(nginx.ports["app"])))
        managed = nginx.root / "conf.d" / "bluegreen_shop.conf"
        assert json.loads(managed.read_text().splitlines()[1].split(": ", 1)[1])["active"] == "blue"
        assert nginx.test_config().returncode == 0
        nginx.ports["role"] = port
        assert nginx.colours("app") == {"blue": 12}
        assert nginx.colours("role") == {"blue": 12}   # Host: app.test reaches the role's site, not the default
        # A second converge changes nothing.
        again = execute_playbook(playbook, inventory=inventory, extra_vars=extra)
        assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
    finally:
        nginx.stop()
        blue.stop()
        green.stop()
        shutil.rmtree(root, ignore_errors=True)
