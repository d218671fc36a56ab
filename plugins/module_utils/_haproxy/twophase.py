# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two-phase switching of one managed backend across a fleet: stage, commit at an instant, abort.

*stage* does every check a switch does (admin socket, backend and servers, health, the
candidate file through ``haproxy -c`` on a temporary copy, the command plan) and sends no
command and changes no file: it leaves a stage record (``_common.staging``) next to the managed
file, holding a hash of the state it was computed from (the servers' runtime states and the
file's text) and the plan. *commit* checks the record (same stage_id, unexpired, same state,
same plan from the task's arguments), sleeps until ``commit_at`` and then switches as apply
does, runtime commands first. *abort* removes the record. An apply run removes any record:
it changes the state the stage was computed from, and a stale stage must never block it.
"""

from __future__ import annotations

import json
import time

from ansible_collections.switchyard.bluegreen.plugins.module_utils._common import staging
from ansible_collections.switchyard.bluegreen.plugins.module_utils._common.switching import (
    now_iso_ms,
    traffic_summary,
)
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.process import HaproxyCommandError
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.render import SETTINGS_KEYS
from ansible_collections.switchyard.bluegreen.plugins.module_utils._haproxy.switch import BackendSwitch, SwitchError


def state_sha256(before, rows):
    """Hash of the state a plan is computed from: the managed file's text and the servers' runtime states.

    Only the columns a switch reads and changes are hashed (admin state, user weight, address):
    health and timing columns move on their own and would make every stage look stale.
    """
    runtime = None
    if rows is not None:
        runtime = sorted([row.get("srv_name"), row.get("srv_admin_state"), row.get("srv_uweight"),
                          row.get("srv_addr"), row.get("srv_port")] for row in rows)
    return staging.sha256_text(json.dumps({"file": before.text, "runtime": runtime}, sort_keys=True))


def plan_signature(spec, plan):
    """What a commit must find again: the settings asked for, the file change, the reload and the commands."""
    signature = {
        "settings": {key: spec[key] for key in SETTINGS_KEYS},
        "file_changes": plan["new_text"] is not None,
        "reload": plan["reload"],
        "reload_reasons": list(plan["reasons"]),
        "commands": list(plan["commands"]),
    }
    # As stored in the record (JSON), so a fresh plan compares equal to a loaded one.
    return json.loads(json.dumps(signature, sort_keys=True))


def signature_differences(staged, current):
    return [key for key in sorted(set(staged) | set(current)) if staged.get(key) != current.get(key)]


# A commit that starts this much after commit_at is worth a warning: the fleet did not switch together.
LATE_WARNING_MS = 1000.0


class StagedBackendSwitch(BackendSwitch):
    """BackendSwitch with the phases of a fleet's two-phase switch (``phase`` option)."""

    def __init__(self, module, haproxy, api, path, *, wall_clock=time.time, wall_sleep=time.sleep, **kwargs):
        super().__init__(module, haproxy, api, path, **kwargs)
        self.record_path = staging.stage_path(self.path)
        self.wall_clock = wall_clock
        self.wall_sleep = wall_sleep

    # -- apply --

    def run(self, spec, name, state_file=None):
        """phase=apply: the switch as always; a stage record left here is discarded or superseded first."""
        if not self.module.check_mode:
            self._retire_stage("this apply run")
        result = super().run(spec, name, state_file)
        result.update(staging.phase_result("apply"))
        return result

    def _retire_stage(self, by, keep_id=None):
        """Remove an expired record (warning) and supersede an unexpired one of another stage_id (warning)."""
        record = staging.discard_stale(self.record_path, now=self.wall_clock(), warnings=self.warnings)
        if record is None or record.stage_id == keep_id:
            return
        record.remove()
        self.warnings.append(
            f"{by} superseded stage {record.stage_id} (it would have expired at {record.expires_at}); "
            "its commit will be refused"
        )

    # -- stage --

    def stage(self, spec, name, stage_id, ttl):
        """Check everything a switch checks, change nothing, and leave a stage record; returns the result."""
        start = self.clock()
        self._require_directory(": create it (the role does)")
        if self.module.check_mode:
            before = self._snapshot()
            plan = self._plan(spec, name, before)
            return self._staged_result(spec, plan, stage_id, self.wall_clock() + ttl, start)
        with self._locked():
            self._retire_stage(f"stage {stage_id}", keep_id=stage_id)
            before = self._snapshot()
            plan = self._plan(spec, name, before)
            if plan["new_text"] is not None:
                self._check_candidate(plan["new_text"])
            expires = self.wall_clock() + ttl
            noop = not self._result(spec, plan)["changed"]
            record = staging.StageRecord(
                self.record_path, stage_id, created=self.wall_clock(), expires=expires,
                base_sha256=state_sha256(before, plan["rows"]),
                candidate_sha256=staging.sha256_text(plan["new_text"]), candidate=plan["new_text"], noop=noop,
                details={"backend": name, "signature": plan_signature(spec, plan)},
            )
            record.save(self.module)
        return self._staged_result(spec, plan, stage_id, expires, start)

    def _check_candidate(self, text, outcome="nothing was staged and nothing changed"):
        """``haproxy -c`` on a copy with the candidate; ``outcome`` says what a refusal leaves."""
        with self._timed("validate_ms"):
            try:
                self.haproxy.check_candidate(self.path, text)
            except HaproxyCommandError as exc:
                raise SwitchError(f"{exc}: {outcome}: " + " | ".join(exc.lines), haproxy_errors=exc.lines) from None
            except OSError as exc:
                raise SwitchError(f"cannot check the staged candidate in a temporary directory: {exc}; "
                                  f"{outcome}") from None

    def _staged_result(self, spec, plan, stage_id, expires, start):
        """What the commit will do (commands, reload, diff); nothing changed yet, so changed is false."""
        result = self._result(spec, plan)
        result["changed"] = False
        result.update(staging.phase_result("stage", stage_id))
        result["staged"] = not self.module.check_mode
        result["stage_expires_at"] = staging.iso_ms(expires)
        return self._finish(start, result)

    # -- commit --

    def commit(self, spec, name, state_file, stage_id, commit_at):
        """Apply the staged change at ``commit_at`` (epoch seconds or None: now); returns the result."""
        start = self.clock()
        self._require_directory()
        staging.check_commit_at(commit_at, self.wall_clock())
        commit_iso = staging.iso_ms(commit_at) if commit_at is not None else None
        if self.module.check_mode:
            return self._predict_commit(spec, name, stage_id, commit_at, start)
        leaving = old_pid = None
        with self._locked():
            before = self._snapshot()
            try:
                plan = self._plan(spec, name, before)
                record = staging.claim_for_commit(self.record_path, stage_id, state_sha256(before, plan["rows"]),
                                                  now=self.wall_clock())
                self._check_commit_instant(record, commit_at)
                self._same_plan(record, spec, plan)
                result = self._result(spec, plan)
                if not record.noop and result["changed"] and plan["new_text"] is not None:
                    # Checked again just before the wait: the rest of the configuration may have moved.
                    self._check_candidate(plan["new_text"], "nothing was changed and the stage was removed")
                late = {"ms": 0.0}
                result.update(staging.phase_result("commit", stage_id))
                result["commit_at"] = commit_iso
                if not record.noop and result["changed"]:
                    def wait():
                        late["ms"] = staging.sleep_until(commit_at, clock=self.wall_clock, sleep=self.wall_sleep)

                    try:
                        leaving, old_pid = self._change(spec, name, state_file, before, plan, result, wait=wait)
                    except SwitchError as exc:
                        raise SwitchError(
                            f"stage {stage_id} could not be committed, the backend is back on its previous state: "
                            f"{exc}", haproxy_errors=exc.haproxy_errors) from None
                    result["committed_at"] = result["applied_at"] or now_iso_ms()
                    result["commit_late_ms"] = late["ms"]
                    if late["ms"] > LATE_WARNING_MS:
                        self.warnings.append(
                            f"this host started its commit {late['ms'] / 1000.0:.1f} s after commit_at "
                            f"{commit_iso}: it switched late, not together with the fleet (a slow host or "
                            "connection, or commit_at chosen too close)")
            finally:
                self._remove_own_record(stage_id)
        if result["changed"] and leaving is not None:
            self._drain(name, plan, leaving, old_pid, result)
        return self._finish(start, result)

    @staticmethod
    def _check_commit_instant(record, commit_at):
        """A commit never applies a stage after it expired, so commit_at must come before the expiry."""
        if commit_at is not None and commit_at >= record.expires:
            raise SwitchError(
                f"commit_at {staging.iso_ms(commit_at)} is after stage {record.stage_id} expires "
                f"({record.expires_at}): a commit never applies an expired stage; raise stage_ttl or commit sooner. "
                "Nothing was changed"
            )

    def _same_plan(self, record, spec, plan):
        staged = record.details.get("signature") or {}
        differences = signature_differences(staged, plan_signature(spec, plan))
        if differences:
            raise SwitchError(
                f"the commit of stage {record.stage_id} asks for something else than was staged "
                f"({', '.join(differences)} differ): pass the same arguments to stage and commit; the stage was "
                "removed and nothing was changed"
            )

    def _remove_own_record(self, stage_id):
        """After a commit, successful or not: the record is used up. Another stage's record stays."""
        record = staging.StageRecord.load(self.record_path)
        if record is not None and record.stage_id == stage_id:
            record.remove()

    def _predict_commit(self, spec, name, stage_id, commit_at, start):
        """Check mode: the checks a commit makes and the plan, without sleeping, sending or removing anything.

        A check-mode stage writes no record, so a missing one only gives a warning here.
        """
        before = self._snapshot()
        plan = self._plan(spec, name, before)
        if staging.StageRecord.load(self.record_path) is None:
            self.warnings.append(f"no staged change with stage_id {stage_id} here (check mode stages nothing); "
                                 "predicting the commit from the task's arguments")
        else:
            record = staging.claim_for_commit(self.record_path, stage_id, state_sha256(before, plan["rows"]),
                                              now=self.wall_clock(), dry_run=True)
            self._check_commit_instant(record, commit_at)
            self._same_plan(record, spec, plan)
        result = self._result(spec, plan)
        result.update(staging.phase_result("commit", stage_id))
        result["commit_at"] = staging.iso_ms(commit_at) if commit_at is not None else None
        return self._finish(start, result)

    # -- abort --

    def abort(self, spec, stage_id):
        """Remove the record of ``stage_id`` (changed) or do nothing (another stage's record stays)."""
        start = self.clock()
        record = staging.StageRecord.load(self.record_path)
        changed = record is not None and record.stage_id == stage_id
        if record is not None and not changed:
            self.warnings.append(f"the stage here is {record.stage_id}, not {stage_id}: it was left in place")
        if changed and not self.module.check_mode:
            with self._locked():
                self._remove_own_record(stage_id)
        result = {"changed": changed, "path": self.path, "reloaded": False, "applied_at": None, "drained": False,
                  "backup_file": None, "drift": [], "commands": [], "reload_reasons": [], "runtime": None}
        # The traffic as persisted: an abort changes none.
        result.update(traffic_summary(spec, self._old_metadata(self._snapshot()), None))
        result.update(staging.phase_result("abort", stage_id))
        return self._finish(start, result)
