"""Helpers shared by the test suites, the benchmark (bench/) and the demo tooling: the one place for them.

backends.py   blue/green HTTP backends on loopback (ColourBackend, blue_green, pools_of)
haproxy.py    a private master-worker HAProxy (LoopbackHaproxy, HaproxyLab) and its admin-socket client
modules.py    run modules and playbooks the way Ansible does (ansible_env, execute_module, execute_playbook)
nginx.py      a private nginx: main configuration, master/worker generations (NginxProcess, LoopbackNginx)
ports.py      loopback ports (free_port, wait_for_port)
process.py    /proc facts (alive, children_of)
moto.py       the session-wide moto_server fixture (a pytest plugin, see tests/conftest.py)
Other modules here belong to the suites that use them. Everything listens on 127.0.0.0/8 only.
"""
