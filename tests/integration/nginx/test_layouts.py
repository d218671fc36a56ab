# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""nginx_upstream on real-world layouts (layouts/README.md): Debian's package, h5bp, Mattermost's proxy.

One nginx per layout (module-scoped fixture); the tests run in order on it, as an operator would:
the application's own ``upstream`` is found and adopted, then switched, split, previewed, checked,
re-run, and managed files are tried in every include directory of the layout. After every step
``nginx -t`` passes on disk, no auxiliary file sits in an include directory, and the traffic
(X-App-Color of real answers through nginx) goes where the module says.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import execute_module
from tests.lib.backends import ColourBackend
from tests.lib.files import digest
from tests.lib.nginx_layouts import LayoutNginx

AUXILIARY_SUFFIXES = (".previous", ".reload-pending", ".lock", ".tmp", ".adopted")

# The operator's own proxy site, written by the tests (Debian style: proxy_params, no .conf suffix).
DEBIAN_SITE = """\
upstream shop {
    server @BLUE@;
}

server {
    listen 127.0.0.1:@PORT@;
    server_name app.test;
    location / {
        include @PREFIX@/proxy_params;
        proxy_pass http://shop;
    }
}
"""

# The operator's own site in h5bp's template style (its basic.conf included in the server).
H5BP_SITE = """\
# shop
upstream shop {
  server @BLUE@;
  keepalive 8;
}

server {
  listen 127.0.0.1:@PORT@;
  server_name app.test;
  include h5bp/basic.conf;
  location / {
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass http://shop;
  }
}
"""

# A preview site: the variable makes nginx look the upstream up per request, so it loads before
# <name>_preview exists.
PREVIEW_SITE = """\
server {
    listen 127.0.0.1:@PORT@;
    location / {
        set $preview_upstream @NAME@_preview;
        proxy_pass http://$preview_upstream;
    }
}
"""


@dataclass
class Case:
    name: str                      # the application's upstream
    site: str                      # the file that defines it before adoption
    site_text: str | None          # None: the layout's own file
    include_dirs: list             # directories an include in http {} loads
    main_context_dirs: list        # directories an include at the top level loads
    preview_site: str
    extra: dict = field(default_factory=dict)


CASES = {
    "debian": Case("shop", "sites-enabled/shop", DEBIAN_SITE, ["conf.d", "sites-enabled"], ["modules-enabled"],
                   "sites-enabled/shop-preview"),
    "h5bp": Case("shop", "conf.d/shop.conf", H5BP_SITE, ["conf.d"], ["custom.d"], "conf.d/shop-preview.conf"),
    "mattermost": Case("backend", "conf.d/mattermost.conf", None, ["conf.d"], [], "conf.d/preview.conf"),
}


class Site:
    def __init__(self, layout: str, case: Case, root: Path, blue: ColourBackend, green: ColourBackend):
        self.layout = layout
        self.case = case
        self.blue, self.green = blue, green
        self.nginx = LayoutNginx(layout, root / "nginx", blue.address)
        self.root = self.nginx.root
        self.state_dir = root / "state"
        self.site_path = self.root / case.site
        if case.site_text is not None:
            self.nginx.add_site(case.site, case.site_text.replace("@BLUE@", blue.address)
                                .replace("@PREFIX@", str(self.root)), "app")
        self.original_site = self.site_path.read_bytes()
        # Defaults follow nginx_conf: <dir of nginx_conf>/conf.d/bluegreen_<name>.conf.
        self.managed = self.root / "conf.d" / f"bluegreen_{case.name}.conf"
        self.preview_added = False

    def pools(self) -> dict:
        return {"blue": [self.blue.address], "green": [self.green.address]}

    def run(self, check_mode=False, diff=False, **overrides):
        args = {"name": self.case.name, "pools": self.pools(), "state_dir": str(self.state_dir),
                "drain_timeout": 5, **self.nginx.module_args(), **overrides}
        return execute_module("nginx_upstream", {k: v for k, v in args.items() if v is not None},
                              check_mode=check_mode, diff=diff)

    def live(self, count=12):
        return self.nginx.colours("app", count)

    def preview(self, count=8):
        return self.nginx.colours("preview", count)

    def assert_valid(self):
        """nginx -t passes on disk and no auxiliary file sits where an include could load it."""
        check = self.nginx.test_config()
        assert check.returncode == 0, check.stderr
        for directory in self.case.include_dirs + self.case.main_context_dirs:
            names = os.listdir(self.root / directory)
            leftovers = [name for name in names if name.endswith(AUXILIARY_SUFFIXES)]
            assert not leftovers, f"auxiliary files in {directory}: {leftovers}"

    def definitions(self, name) -> int:
        """How many `upstream <name>` blocks nginx -T shows."""
        dump = self.nginx.dump()
        return sum(1 for line in dump.splitlines() if line.split("#")[0].split()[:2] == ["upstream", name])


@pytest.fixture(scope="module", params=sorted(CASES))
def site(request):
    # Not under pytest's 0700 temp root: the layouts run their workers as www-data (`user www-data;`),
    # which must reach the layout's cache and log directories.
    root = Path(tempfile.mkdtemp(prefix=f"switchyard-layout-{request.param}-"))
    os.chmod(root, 0o755)  # noqa: S103 - www-data must traverse it; it holds test configuration only
    blue = ColourBackend("blue", "1.0.0").start()
    green = ColourBackend("green", "2.0.0").start()
    lab = Site(request.param, CASES[request.param], root, blue, green)
    try:
        check = lab.nginx.test_config()
        assert check.returncode == 0, f"layout {request.param} does not pass nginx -t as stored: {check.stderr}"
        lab.nginx.start()
        yield lab
    finally:
        lab.nginx.stop()
        blue.stop()
        green.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_layout_serves_the_application_on_blue(site: Site):
    site.assert_valid()
    assert site.live() == {"blue": 12}
    assert site.definitions(site.case.name) == 1


def test_duplicate_without_adopt_names_file_and_line_and_changes_nothing(site: Site):
    result = site.run(active="blue")
    assert result.failed, result
    line = site.original_site.decode().splitlines().index(
        next(text for text in site.original_site.decode().splitlines() if text.startswith(f"upstream {site.case.name}"))
    ) + 1
    assert f"upstream {site.case.name} in {site.site_path}:{line}" in result["msg"], result["msg"]
    assert "adopt: true" in result["msg"]
    assert "duplicate upstream" in result["msg"]
    assert "was removed again" in result["msg"], "there was no managed file before: nothing was 'restored'"
    assert not site.managed.exists()
    assert site.site_path.read_bytes() == site.original_site
    site.assert_valid()
    assert site.live() == {"blue": 12}


def test_adopt_in_check_mode_shows_both_files_and_touches_nothing(site: Site):
    result = site.run(check_mode=True, diff=True, active="blue", adopt=True)
    assert not result.failed, result
    assert result["changed"]
    headers = [entry["before_header"] for entry in result["diff"]]
    assert headers == [str(site.managed), str(site.site_path)]
    assert f"upstream {site.case.name} " in result["diff"][1]["before"]
    assert f"upstream {site.case.name} " not in result["diff"][1]["after"]
    assert not site.managed.exists()
    assert site.site_path.read_bytes() == site.original_site
    site.assert_valid()


def test_adopt_moves_the_block_and_keeps_the_rest_byte_for_byte(site: Site):
    workers_before = site.nginx.master_pid()
    result = site.run(active="blue", adopt=True)
    assert not result.failed, result
    assert result["changed"] and result["reloaded"], result
    adopted = result["adopted"]
    assert [entry["path"] for entry in adopted] == [str(site.site_path)]
    # Only the upstream block changed in the operator's file: cut it out of the original and compare.
    original = site.original_site.decode()
    start = original.index(f"upstream {site.case.name}")
    end = original.index("}", start) + 1
    expected = original[:start] + f"# upstream {site.case.name}: adopted by switchyard.bluegreen.nginx_upstream" \
        + original[end:]
    assert site.site_path.read_text() == expected
    assert Path(adopted[0]["backup_file"]).read_bytes() == site.original_site
    assert str(site.state_dir) in adopted[0]["backup_file"]
    assert site.managed.exists() and site.definitions(site.case.name) == 1
    assert site.nginx.master_pid() == workers_before
    site.assert_valid()
    assert site.live() == {"blue": 12}


def test_adopting_again_changes_nothing(site: Site):
    result = site.run(active="blue", adopt=True)
    assert not result.failed, result
    assert not result["changed"] and result["adopted"] == []
    site.assert_valid()


def test_switch_to_green_and_rerun_is_idempotent(site: Site):
    result = site.run(active="green")
    assert not result.failed, result
    assert result["changed"] and result["reloaded"] and result["drained"]
    site.assert_valid()
    assert site.live() == {"green": 12}
    mtime = site.managed.stat().st_mtime_ns
    again = site.run(active="green")
    assert not again.failed and not again["changed"] and not again["reloaded"], again
    assert site.managed.stat().st_mtime_ns == mtime
    site.assert_valid()
    assert site.live() == {"green": 12}


def test_weights_split_the_traffic(site: Site):
    result = site.run(weights={"blue": 50, "green": 50}, keepalive=16)
    assert not result.failed, result
    site.assert_valid()
    counts = site.live(40)
    assert counts.get("blue", 0) > 0 and counts.get("green", 0) > 0 and sum(counts.values()) == 40, counts


def test_preview_points_at_the_idle_colour(site: Site):
    # preview_colour: the deprecated spelling of preview_color still works, with a deprecation warning.
    result = site.run(active="blue", preview=True, preview_colour="green")
    assert not result.failed, result
    assert result["preview"] == "green"
    assert "preview_colour" in str(result.get("deprecations")), result
    site.nginx.add_site(site.case.preview_site, PREVIEW_SITE.replace("@NAME@", site.case.name), "preview")
    reloaded = site.nginx.command("-s", "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    site.nginx.wait_for_port("preview")
    site.assert_valid()
    assert site.live() == {"blue": 12}
    assert site.preview() == {"green": 8}


def test_check_mode_predicts_and_changes_nothing(site: Site):
    before = digest(site.managed)
    result = site.run(check_mode=True, active="green", preview=True)
    assert not result.failed, result
    assert result["changed"] and not result["reloaded"]
    assert digest(site.managed) == before
    site.assert_valid()
    assert site.live() == {"blue": 12}


def test_backup_lives_in_the_state_dir(site: Site):
    before = site.managed.read_bytes()
    result = site.run(active="green", preview=True)
    assert not result.failed, result
    assert result["backup_file"].startswith(str(site.state_dir) + "/")
    assert Path(result["backup_file"]).read_bytes() == before
    site.assert_valid()
    assert site.live() == {"green": 12}
    assert site.preview() == {"blue": 8}


def probe_path(site: Site, directory: str) -> Path:
    # Debian's sites-enabled/* loads any name; elsewhere the include wants *.conf.
    return site.root / directory / ("bluegreen_probe" if directory == "sites-enabled" else "bluegreen_probe.conf")


def test_a_managed_file_in_every_include_directory(site: Site):
    probe_pools = {"blue": ["127.0.0.1:9"], "green": ["127.0.0.1:10"]}
    for directory in site.case.include_dirs:
        path = probe_path(site, directory)
        for colour in ("blue", "green"):
            result = site.run(name="probe", pools=probe_pools, active=colour, path=str(path))
            assert not result.failed, (directory, result)
            site.assert_valid()
            assert site.definitions("probe") == 1
        # A backup an earlier version left next to the file: in sites-enabled nginx loads it.
        shutil.copy(path, str(path) + ".previous")
        result = site.run(name="probe", pools=probe_pools, active="green", path=str(path))
        assert not result.failed, (directory, result)
        assert result["changed"]
        assert any("earlier version" in str(warning) for warning in result.get("warnings", [])), result
        assert not os.path.exists(str(path) + ".previous")
        site.assert_valid()
        # state=absent leaves no definition anywhere.
        result = site.run(name="probe", pools=None, state="absent", path=str(path))
        assert not result.failed, (directory, result)
        assert not path.exists()
        site.assert_valid()
        assert site.definitions("probe") == 0
        assert site.live() == {"green": 12}


def test_a_managed_file_in_a_top_level_include_is_refused_cleanly(site: Site):
    for directory in site.case.main_context_dirs:
        path = site.root / directory / "bluegreen_probe.conf"
        result = site.run(name="probe", pools={"blue": ["127.0.0.1:9"], "green": ["127.0.0.1:10"]},
                          active="blue", path=str(path))
        assert result.failed, result
        assert "not allowed here" in result["msg"] and "was removed again" in result["msg"], result["msg"]
        assert not path.exists()
        site.assert_valid()
    assert site.live() == {"green": 12}


def test_removing_an_upstream_a_site_still_uses_is_refused(site: Site):
    before = site.managed.read_bytes()
    result = site.run(pools=None, state="absent")
    assert result.failed, result
    assert "host not found in upstream" in result["msg"] and "was restored" in result["msg"], result["msg"]
    assert site.managed.read_bytes() == before
    site.assert_valid()
    assert site.live() == {"green": 12}
