# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every `module_defaults` example in docs/*.md runs as written, against a real nginx and real backends.

The examples use the variables ``lb_nginx_conf``, ``lb_nginx_prefix``, ``lb_state_dir``,
``shop_blue`` and ``shop_green`` and the host group ``loadbalancers``; the test supplies them
for a loopback nginx (the Mattermost layout: nginx.org's main file with ``conf.d/*.conf``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, execute_playbook
from tests.lib.backends import ColourBackend
from tests.lib.nginx_layouts import LayoutNginx

BLOCK_RE = re.compile(r"```yaml\n(.*?)```", re.S)

# A site for `shop`: the variable lets nginx load it before the upstream exists.
SHOP_SITE = """\
server {
    listen 127.0.0.1:@PORT@;
    location / {
        set $shop_upstream shop;
        proxy_pass http://$shop_upstream;
    }
}
"""


def examples():
    found = []
    for doc in sorted((REPO / "docs").rglob("*.md")):
        for block in BLOCK_RE.findall(doc.read_text()):
            if "module_defaults:" in block:
                found.append(pytest.param(block, id=f"{doc.relative_to(REPO)}#{len(found)}"))
    return found


EXAMPLES = examples()


def test_the_docs_have_module_defaults_examples():
    assert EXAMPLES, "no module_defaults example found in docs/"


@pytest.mark.parametrize("block", EXAMPLES)
def test_module_defaults_example_runs(block):
    play = yaml.safe_load(block)
    assert isinstance(play, list) and play[0].get("module_defaults"), "an example is a whole playbook"
    root = Path(tempfile.mkdtemp(prefix="switchyard-docs-"))
    os.chmod(root, 0o755)  # noqa: S103 - the layout's workers run as www-data
    blue = ColourBackend("blue", "1.0.0").start()
    green = ColourBackend("green", "2.0.0").start()
    nginx = LayoutNginx("mattermost", root / "nginx", blue.address)
    try:
        nginx.add_site("conf.d/shop-site.conf", SHOP_SITE, "shop")
        nginx.start()
        playbook = root / "example.yml"
        playbook.write_text(block)
        inventory = root / "inventory.ini"
        inventory.write_text(
            f"[loadbalancers]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        )
        extra = {"lb_nginx_conf": str(nginx.main_conf), "lb_nginx_prefix": str(nginx.root),
                 "lb_state_dir": str(root / "state"), "shop_blue": [blue.address], "shop_green": [green.address]}
        result = execute_playbook(playbook, inventory=inventory, extra_vars=extra)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "failed=0" in result.stdout
        assert nginx.test_config().returncode == 0
        if "switchyard.bluegreen.nginx_upstream:" in block:
            assert nginx.colours("shop") == {"green": 12}
            managed = nginx.root / "conf.d" / "bluegreen_shop.conf"
            assert json.loads(managed.read_text().splitlines()[1].split(": ", 1)[1])["active"] == "green"
    finally:
        nginx.stop()
        blue.stop()
        green.stop()
        shutil.rmtree(root, ignore_errors=True)
