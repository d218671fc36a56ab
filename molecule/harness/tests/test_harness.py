"""testinfra checks run by Molecule inside the harness container."""


def test_marker_file(host):
    marker = host.file("/etc/switchyard-harness")
    assert marker.exists
    assert marker.mode == 0o644
    assert marker.content_string.strip() == "harness ok"


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_nginx_running_and_enabled(host):
    nginx = host.service("nginx")
    assert nginx.is_running
    assert nginx.is_enabled
