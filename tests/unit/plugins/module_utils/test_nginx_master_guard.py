"""The stale-pid guard accepts only a real nginx master's process title."""

from __future__ import annotations

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import process as _nginx_process


def write_cmdline(proc, pid, argv):
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    (folder / "cmdline").write_bytes(b"\0".join(argv) + b"\0")


def test_master_title_accepted(tmp_path):
    write_cmdline(tmp_path, 10, [b"nginx: master process /usr/sbin/nginx -c /etc/nginx/nginx.conf"])
    assert _nginx_process._is_nginx(10, proc=str(tmp_path))


def test_other_program_mentioning_nginx_rejected(tmp_path):
    write_cmdline(tmp_path, 11, [b"/usr/bin/python3", b"-m", b"pytest", b"tests/integration/nginx"])
    assert not _nginx_process._is_nginx(11, proc=str(tmp_path))


def test_worker_title_rejected(tmp_path):
    write_cmdline(tmp_path, 12, [b"nginx: worker process"])
    assert not _nginx_process._is_nginx(12, proc=str(tmp_path))


def test_missing_process_rejected(tmp_path):
    assert not _nginx_process._is_nginx(13, proc=str(tmp_path))
