# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private helpers shared by the load-balancer switching modules (nginx_upstream, haproxy_backend).

- ``now_iso`` / ``now_iso_ms``: UTC timestamps for metadata (seconds) and for results that
  are compared across hosts (milliseconds).
- ``elapsed_ms``: the step timings every module returns.
- ``check_programs``: refuse a missing binary or reload command before anything is written.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._files import (
    ProgramNotFoundError,
    resolve_program,
)


def now_iso():
    """UTC time to the second, as written into the managed files' metadata."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def now_iso_ms():
    """UTC time to the millisecond: comparable across hosts whose clocks are synchronised."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def elapsed_ms(start, clock=time.monotonic):
    """Whole milliseconds since ``start`` (a value of ``clock``)."""
    return round((clock() - start) * 1000)


def check_programs(module, binary, binary_option, reload_command, error_class):
    """Resolve the binary (and the reload command's program, when given) before anything changes.

    Returns the binary's path. A program that cannot run raises ``error_class`` naming the
    option; in check mode nothing runs, so a missing program is not an error there.
    """
    try:
        binary = resolve_program(module, binary, binary_option)
        if reload_command:
            resolve_program(module, reload_command[0], "reload_command")
    except ProgramNotFoundError as exc:
        if not module.check_mode:
            raise error_class(str(exc)) from None
    return binary
