# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The nginx role on a host that already serves sites: Debian's package layout with an edited default
site (default_server on the port the role wants) and the operator's own `upstream shop`.

The role must leave the edited default site and its default_server alone (and say so), adopt the
existing upstream through nginx_upstream's adopt, and leave a configuration that passes nginx -t
with traffic through both the operator's site and the role's site.

The distribution's untouched default site is removed: that test links to the package's real
/etc/nginx/sites-available/default and lets the role compare it with dpkg's checksum; the edited
variant runs the role in a private mount namespace where an edited copy is bind-mounted over that
path (the host's file is never changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import execute_playbook
from tests.lib.backends import ColourBackend
from tests.lib.modules import VENV_BIN, ansible_env
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
            "nginx_state_dir": str(root / "state"),
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


PACKAGE_DEFAULT_SITE = Path("/etc/nginx/sites-available/default")


def package_checksum(path: Path) -> str | None:
    """The md5 dpkg recorded for `path` (a conffile of nginx-common), None when there is none."""
    result = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}\n", "nginx-common"],
                            capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        fields = line.split()
        if fields[:1] == [str(path)] and len(fields) >= 2:
            return fields[1]
    return None


def task_output(output: str, name: str) -> str:
    """What ansible-playbook printed for the task `name` (its header up to the next task)."""
    start = output.index(f"{name}]")
    end = output.find("TASK [", start)
    return output[start:end if end != -1 else None]


REMOVE_TASK = "Remove the distribution's untouched default site (it takes the port as default_server)"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - dpkg's conffile checksum is md5


def test_role_removes_the_untouched_package_default_site_and_keeps_an_edited_one():
    """The package's default site, enabled by a link as Debian does it, is removed when it is untouched
    (dpkg's checksum) and left alone, with a report, when its content was edited."""
    shipped = package_checksum(PACKAGE_DEFAULT_SITE)
    assert shipped is not None, "nginx-common lists no conffile checksum for the default site"
    if md5(PACKAGE_DEFAULT_SITE) != shipped:
        pytest.skip(f"{PACKAGE_DEFAULT_SITE} on this host is not the package's untouched file")
    root = Path(tempfile.mkdtemp(prefix="switchyard-role-default-"))
    os.chmod(root, 0o755)  # noqa: S103 - the layout's workers run as www-data
    blue = ColourBackend("blue", "1.0.0").start()
    green = ColourBackend("green", "2.0.0").start()
    nginx = LayoutNginx("debian", root / "nginx", blue.address)
    try:
        nginx.start()
        # The enabled link to the package's real file; kept out of the test nginx's includes, because the
        # package's site listens on port 80 of every address.
        enabled = root / "enabled" / "default"
        enabled.parent.mkdir()
        enabled.symlink_to(PACKAGE_DEFAULT_SITE)
        port = free_port()
        playbook = root / "front.yml"
        playbook.write_text(PLAYBOOK)
        inventory = root / "hosts.ini"
        inventory.write_text(
            f"[bluegreen_lb]\nlb0 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        )
        extra = {
            "nginx_app_name": "shop", "nginx_install": False, "nginx_remove_default_site": True,
            "nginx_default_server": False, "nginx_default_site": str(enabled),
            "nginx_default_site_source": str(PACKAGE_DEFAULT_SITE), "nginx_conf": str(nginx.main_conf),
            "nginx_config_dir": str(nginx.root / "conf.d"), "nginx_binary": NGINX,
            "nginx_listen_address": "127.0.0.1", "nginx_listen_port": port, "nginx_server_name": "app.test",
            "nginx_preview_port": free_port(), "nginx_drain_timeout": 5,
            "bluegreen_pools": {"blue": [blue.address], "green": [green.address]},
            "nginx_state_dir": str(root / "state"),
        }

        # Edited: an edited copy bind-mounted over the package's path in a private mount namespace, so the
        # role reads the real path and dpkg's real checksum, and the host's file stays as it is.
        edited = root / "default.edited"
        edited.write_text(PACKAGE_DEFAULT_SITE.read_text().replace("index index.html", "index start.html index.html"))
        command = [str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", str(inventory),
                   "-e", json.dumps(extra)]
        in_namespace = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount --bind "$0" "$1" && shift && exec "$@"',
                        str(edited), str(PACKAGE_DEFAULT_SITE), *command]
        kept = subprocess.run(in_namespace, capture_output=True, text=True, env=ansible_env(), timeout=600,
                              check=False)
        output = kept.stdout + kept.stderr
        assert kept.returncode == 0, output[-4000:]
        assert enabled.is_symlink(), "an edited default site must be left alone"
        assert f"{enabled} was left alone" in output, output[-3000:]
        assert "skipping: [lb0]" in task_output(output, REMOVE_TASK)
        assert md5(PACKAGE_DEFAULT_SITE) == shipped, "the host's package file is unchanged"
        assert nginx.test_config().returncode == 0
        nginx.ports["role"] = port
        assert nginx.colours("role") == {"blue": 12}

        # Untouched: the same link to the package's file as shipped is removed (the package's file stays).
        removed = execute_playbook(playbook, inventory=inventory, extra_vars=extra)
        output = removed.stdout + removed.stderr
        assert removed.returncode == 0, output[-4000:]
        assert not os.path.lexists(enabled), "the untouched default site must be removed"
        assert f"{enabled} was left alone" not in output
        assert "skipping: [lb0]" in task_output(output, "Report a default site that was left alone")
        assert "changed: [lb0]" in task_output(output, REMOVE_TASK), output[-3000:]
        assert PACKAGE_DEFAULT_SITE.is_file() and md5(PACKAGE_DEFAULT_SITE) == shipped
        assert nginx.test_config().returncode == 0
        assert nginx.colours("role") == {"blue": 12}
        # Nothing left to remove: a second converge changes nothing.
        again = execute_playbook(playbook, inventory=inventory, extra_vars=extra)
        assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
    finally:
        nginx.stop()
        blue.stop()
        green.stop()
        shutil.rmtree(root, ignore_errors=True)
