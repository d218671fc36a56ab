# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one error hierarchy and the one way a module fails with it."""

from __future__ import annotations

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import (
    ExternalError,
    InputError,
    SwitchError,
    SwitchyardError,
    fail_module,
)


class FailedError(Exception):
    pass


class RecordingModule:
    def __init__(self):
        self.warnings = []
        self.failed = None

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, **result):
        self.failed = result
        raise FailedError


@pytest.mark.parametrize("cls", [InputError, SwitchError, ExternalError])
def test_every_error_is_a_switchyard_error(cls):
    assert issubclass(cls, SwitchyardError)


def test_input_error_is_also_a_value_error():
    # Callers that validated with ValueError before the hierarchy existed keep working.
    assert issubclass(InputError, ValueError)


def test_fail_module_passes_message_details_result_and_warnings_in_order():
    module = RecordingModule()
    exc = SwitchError("reload failed: blue is still live", nginx_errors=["[emerg] x"], path="/etc/a.conf")
    with pytest.raises(FailedError):
        fail_module(module, exc, warnings=["first", "second"], path="/etc/b.conf", changed=False)
    assert module.warnings == ["first", "second"]
    assert module.failed == {
        "msg": "reload failed: blue is still live",
        "nginx_errors": ["[emerg] x"],
        "path": "/etc/b.conf",  # the caller's result wins over the error's details
        "changed": False,
    }


def test_fail_module_accepts_a_plain_exception():
    module = RecordingModule()
    with pytest.raises(FailedError):
        fail_module(module, ValueError("bad"))
    assert module.failed == {"msg": "bad"}
