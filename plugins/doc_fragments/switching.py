# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options every switching module shares (argument spec: module_utils._common.argspec).

    Only what has the same type, default and meaning for every router is here. The modules
    document their own ``name``, ``path``, ``weights`` (the range is the router's), ``state``
    (what a removal reloads) and everything specific to their router.
    """

    DOCUMENTATION = r"""
options:
  pools:
    description:
      - Colour to list of servers. At least two colours; colour names use letters, digits and V(_).
      - A server is C(host:port), C([ipv6]:port) or C(unix:/path). Whitespace, quotes, V(;), V({), V(}),
        V($), V(#) and backslashes are rejected so a server string can never inject configuration syntax.
      - A server may appear in one colour only.
      - Required when O(state=present).
    type: dict
  active:
    description:
      - The colour that takes all live traffic. Must be a key of O(pools).
      - Mutually exclusive with O(weights); one of the two is required when O(state=present).
    type: str
  backup:
    description:
      - Keep the previous managed file as C(<path>.previous), a name the router's configuration directory does not
        load (it loads only C(*.conf) or C(*.cfg) files).
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for another run on the same file to finish.
    type: float
    default: 60
"""
