# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of switchyard.bluegreen.http_check.

When the task's host is the controller itself (connection ``local`` and no become, the usual case
for the switch role's checks, which run ``delegate_to: localhost``), the check runs right here, in
the worker process, with the same module_utils code the module runs. That skips packaging the
module, starting a second Python interpreter and importing ansible.module_utils.basic: about a
quarter to half a second per check (docs/benchmarks.md), which an instant rollback pays twice.
Anywhere else the module runs on the managed host as usual.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.errors import SwitchyardError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._http.burst import make_opener, run_check
from ansible_collections.switchyard.bluegreen.plugins.module_utils._http.spec import (
    MODULE_RULES,
    CheckSpec,
    argument_spec,
)

MODULE = "switchyard.bluegreen.http_check"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _on_controller(self):
        # become switches user (and may need a password prompt): only the module can do that.
        return self._connection.transport == "local" and not self._play_context.become

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # unused: nothing is copied to the host
        if not self._on_controller():
            result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars))
            return result
        result.update(self._run_here())
        return result

    def _run_here(self):
        spec_options = argument_spec()
        validated = ArgumentSpecValidator(spec_options, **MODULE_RULES).validate(self._task.args)
        # http_check's secrets are top-level strings (url_password): hide their values like AnsibleModule does.
        no_log_values = {str(value) for name, value in validated.validated_parameters.items()
                         if spec_options.get(name, {}).get("no_log") and value not in (None, "")}
        if validated.error_messages:
            return {"failed": True, "changed": False,
                    "msg": remove_values(", ".join(validated.error_messages), no_log_values)}
        result = {"changed": False, "invocation": {"module_args": remove_values(
            validated.validated_parameters, no_log_values)}}
        try:
            spec = CheckSpec(validated.validated_parameters)
            opener = make_opener(spec)
        except SwitchyardError as exc:
            result.update(remove_values(dict(exc.details), no_log_values))
            result.update(failed=True, msg=remove_values(str(exc), no_log_values))
            return result
        ran, outcome = run_check(spec, opener)
        result.update(remove_values(outcome, no_log_values))
        if not ran or (not outcome["passed"] and validated.validated_parameters["fail_on_threshold"]):
            result.update(failed=True, msg=result["summary"])
        return result
