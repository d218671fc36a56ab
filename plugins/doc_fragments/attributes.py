# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Shared `attributes` entries for the collection's modules."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""

    # Modules that only read.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
"""

    # One fragment per family: the action groups of meta/runtime.yml that hold the module.
    ACTIONGROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/switchyard.bluegreen.bluegreen) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - switchyard.bluegreen.bluegreen
"""

    ACTIONGROUP_NGINX = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/switchyard.bluegreen.nginx) in C(module_defaults) to set this family's options once.
      - C(group/switchyard.bluegreen.bluegreen) holds every module of the collection.
    support: full
    membership:
      - switchyard.bluegreen.bluegreen
      - switchyard.bluegreen.nginx
"""

    ACTIONGROUP_HAPROXY = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/switchyard.bluegreen.haproxy) in C(module_defaults) to set this family's options once.
      - C(group/switchyard.bluegreen.bluegreen) holds every module of the collection.
    support: full
    membership:
      - switchyard.bluegreen.bluegreen
      - switchyard.bluegreen.haproxy
"""

    ACTIONGROUP_ROUTE53 = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/switchyard.bluegreen.route53) in C(module_defaults) for this family's options.
      - C(group/switchyard.bluegreen.aws) sets the AWS connection options of every AWS module at once.
    support: full
    membership:
      - switchyard.bluegreen.bluegreen
      - switchyard.bluegreen.route53
      - switchyard.bluegreen.aws
"""

    ACTIONGROUP_ALB = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/switchyard.bluegreen.alb) in C(module_defaults) for this family's options.
      - C(group/switchyard.bluegreen.aws) sets the AWS connection options of every AWS module at once.
    support: full
    membership:
      - switchyard.bluegreen.bluegreen
      - switchyard.bluegreen.alb
      - switchyard.bluegreen.aws
"""
