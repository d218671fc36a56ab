# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection's one error hierarchy and the one way a module fails with it.

Every error a module reports to its user derives from ``SwitchyardError``. Its message
names the option and the fix; ``details`` are extra result keys for ``fail_json``
(``nginx_errors``, ``path``, ``change_id``, ...). Modules catch ``SwitchyardError`` once
and call ``fail_module``; nothing else turns exceptions into failures.

- ``InputError``: a parameter is wrong; nothing was read or changed.
- ``SwitchError``: a step of a switch failed after the input was accepted; the message
  says what is live now (the switch classes put the previous state back before raising).
- ``ExternalError``: a program or API the module talks to failed (nginx, HAProxy's
  runtime API, AWS) outside a switch.
"""

from __future__ import annotations


class SwitchyardError(Exception):
    """Base of every error the collection reports; ``details`` go into the failed result."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details


class InputError(SwitchyardError, ValueError):
    """A parameter is invalid; the message names the option and the fix. Nothing changed."""


class SwitchError(SwitchyardError):
    """A switch failed after its input was accepted; the message says what is live now."""


class ExternalError(SwitchyardError):
    """A program or service the module depends on failed or is missing."""


def fail_module(module, exc, warnings=(), **result):
    """Fail ``module`` with ``exc``'s message, its details and ``result``; warnings first."""
    for warning in warnings:
        module.warn(warning)
    details = dict(getattr(exc, "details", None) or {})
    details.update(result)
    module.fail_json(msg=str(exc), **details)
