# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Application Load Balancer router (alb_switch, alb_switch_info) on the shared _aws base.

- ``spec``: the argument spec pieces and the validated input (``Spec``); every rule AWS enforces
  and the local emulator does not (weights 0-999, at most 5 target groups, stickiness 1-604800 s)
  is checked here before any call.
- ``state``: reading the listener or rule, the target groups and their health, and the
  normalised view of a forward action that idempotence and the race check compare.
- ``plan``: the wanted weights and the new action list (every other action kept as read).
- ``apply``: the guarded write (read again before, read back after), the preview listener or
  rule and the ``drained`` wait.
- ``switch``: the entry points ``switch()`` and ``info()``.
"""
