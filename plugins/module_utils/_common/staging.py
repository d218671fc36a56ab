# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two-phase switching across a fleet of load balancers: stage records and the commit instant.

Phase one (*stage*) checks the change on a host without applying it and leaves a stage record:
the candidate, a hash of the state it was computed from, the fleet's ``stage_id`` and an expiry.
Phase two (*commit*) applies the staged candidate at one agreed wall-clock instant (``commit_at``)
on every host, only when the record is still there, unexpired, from the same ``stage_id`` and the
state on the host is still the one the candidate was computed from.

A stage is a lease, not a held lock: no process waits between the phases (a cancelled job could
not release it). A newer stage supersedes an older one, an expired one is removed by the next run
on that host, and a commit checks the record's id, expiry and base hash, so a stale stage can
never be applied and never blocks the next run.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import time

from .errors import InputError, SwitchError

RECORD_VERSION = 1
# A commit_at further away than this is a mistake (a wrong clock or unit), not a plan.
MAX_COMMIT_DELAY_S = 600.0


def sha256_text(text):
    """Hash of a file's text (None for a missing file), as stored in a stage record."""
    if text is None:
        return None
    if isinstance(text, str):
        text = text.encode("utf-8")
    return hashlib.sha256(text).hexdigest()


def parse_commit_at(value, option="commit_at"):
    """``commit_at`` as epoch seconds: an ISO 8601 UTC time (``2026-11-29T19:30:00.250Z``) or epoch seconds.

    None or an empty string means "now". A time without a zone is refused: each host would read it
    in its own local time.
    """
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        epoch = float(text)
    except ValueError:
        pass
    else:
        # float() also reads "nan" and "inf": an instant nobody can sleep until.
        if not math.isfinite(epoch) or epoch < 0:
            raise InputError(f"{option} must be a UTC time in ISO 8601 or epoch seconds >= 0 (got {text!r})")
        return epoch
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise InputError(
            f"{option} must be a UTC time in ISO 8601 (for example 2026-11-29T19:30:00.250Z) or epoch seconds "
            f"(got {text!r})"
        ) from None
    if moment.tzinfo is None:
        raise InputError(
            f"{option} must name its time zone (end it with Z for UTC, got {text!r}): hosts in other zones would "
            "read it differently"
        )
    return moment.timestamp()


def iso_ms(epoch):
    """Epoch seconds as an ISO 8601 UTC string with milliseconds."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_commit_at(commit_at, now, option="commit_at", limit=MAX_COMMIT_DELAY_S):
    """Refuse a commit instant implausibly far in the future (InputError)."""
    if commit_at is not None and commit_at - now > limit:
        raise InputError(
            f"{option} is {commit_at - now:.0f} s in the future (limit {limit:.0f} s): check the controller's and "
            "this host's clocks, or pass a UTC time"
        )


def sleep_until(epoch, clock=time.time, sleep=time.sleep, spin_s=0.002):
    """Sleep until the wall-clock instant ``epoch``; returns how late we were (ms, >= 0) or 0.0.

    The last ``spin_s`` is polled so the wake-up is within about a millisecond of the instant,
    instead of the scheduler's sleep granularity.
    """
    if epoch is None:
        return 0.0
    while True:
        remaining = epoch - clock()
        if remaining <= 0:
            return round(-remaining * 1000.0, 3)
        if remaining > spin_s:
            sleep(remaining - spin_s)
        else:
            sleep(0)


class StageRecord:
    """One host's staged change for one managed target, stored as JSON at ``path``.

    Fields: stage_id, created (epoch), expires (epoch), base_sha256 (the state the candidate was
    computed from), candidate_sha256, candidate (text, or None when the router keeps it elsewhere),
    noop (nothing to change) and details (router-specific, JSON-serialisable).
    """

    def __init__(self, path, stage_id, *, created, expires, base_sha256, candidate_sha256, candidate=None,
                 noop=False, details=None):
        self.path = path
        self.stage_id = stage_id
        self.created = created
        self.expires = expires
        self.base_sha256 = base_sha256
        self.candidate_sha256 = candidate_sha256
        self.candidate = candidate
        self.noop = noop
        self.details = details or {}

    @property
    def expires_at(self):
        return iso_ms(self.expires)

    def expired(self, now=None):
        return (time.time() if now is None else now) >= self.expires

    def to_json(self):
        return json.dumps({
            "version": RECORD_VERSION, "stage_id": self.stage_id, "created": self.created, "expires": self.expires,
            "base_sha256": self.base_sha256, "candidate_sha256": self.candidate_sha256, "candidate": self.candidate,
            "noop": self.noop, "details": self.details,
        }, sort_keys=True)

    def save(self, module):
        """Write the record atomically (temp file in the same directory, then atomic_move)."""
        directory = os.path.dirname(self.path)
        temp = os.path.join(directory, f".{os.path.basename(self.path)}.{os.getpid()}.tmp")
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
            os.chmod(temp, 0o600)
            module.atomic_move(temp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise SwitchError(
                f"cannot write the stage record {self.path}: {exc.strerror or exc}; nothing was staged"
            ) from None

    @classmethod
    def load(cls, path):
        """The record at ``path``, or None when there is none (or it is unreadable: treated as absent)."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
            return None
        return cls(path, data.get("stage_id"), created=data.get("created"), expires=data.get("expires"),
                   base_sha256=data.get("base_sha256"), candidate_sha256=data.get("candidate_sha256"),
                   candidate=data.get("candidate"), noop=bool(data.get("noop")), details=data.get("details"))

    def remove(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def stage_path(state_base):
    """Where the stage record of a managed target lives (in the module's state directory)."""
    return state_base + ".stage"


def discard_stale(path, now=None, warnings=None):
    """Remove an expired record at ``path``; returns the record that is still valid, or None."""
    record = StageRecord.load(path)
    if record is None:
        return None
    if record.expired(now):
        record.remove()
        if warnings is not None:
            warnings.append(f"removed the expired stage {record.stage_id} (expired at {record.expires_at}); it was "
                            "never committed, so nothing it staged was applied")
        return None
    return record


def claim_for_commit(path, stage_id, base_sha256, now=None, dry_run=False):
    """The record to commit, after every check that makes a stale or foreign stage unusable.

    Raises SwitchError naming what to do: no record (expired and removed, or never staged), another
    stage_id (a later run superseded it), expired, or the state changed since staging. An expired
    record and one whose base state is gone can never be committed, so they are removed (not with
    ``dry_run``, for check mode); another stage_id's record is left to its own run.
    """
    now = time.time() if now is None else now
    record = StageRecord.load(path)
    if record is None:
        raise SwitchError(
            f"no staged change with stage_id {stage_id} (the stage was never made on this host, or it expired and "
            "was removed): run the switch again; nothing was changed"
        )
    if record.stage_id != stage_id:
        raise SwitchError(
            f"the staged change here has stage_id {record.stage_id}, not {stage_id}: a later run superseded this "
            "one; nothing was changed"
        )
    if record.expired(now):
        if not dry_run:
            record.remove()
        raise SwitchError(
            f"stage {stage_id} expired at {record.expires_at} before its commit arrived; it was removed and "
            "nothing was changed: run the switch again (or raise stage_ttl)"
        )
    if record.base_sha256 != base_sha256:
        if not dry_run:
            record.remove()
        raise SwitchError(
            f"the state changed since stage {stage_id} was made (another run or a hand edit): the staged "
            "candidate was computed from a state that is gone, so it was not applied and the stage was removed; "
            "run the switch again"
        )
    return record


# --- the options and result keys every two-phase module shares ------------------------------

PHASES = ("apply", "stage", "commit", "abort")
DEFAULT_STAGE_TTL = 60.0


def two_phase_argument_spec():
    """``phase``, ``stage_id``, ``stage_ttl`` and ``commit_at`` (fresh copies, for ``argument_spec.update``)."""
    return {
        "phase": {"type": "str", "default": "apply", "choices": list(PHASES)},
        "stage_id": {"type": "str"},
        "stage_ttl": {"type": "float", "default": DEFAULT_STAGE_TTL},
        "commit_at": {"type": "str"},
    }


TWO_PHASE_REQUIRED_IF = [
    ("phase", "stage", ("stage_id",)),
    ("phase", "commit", ("stage_id",)),
    ("phase", "abort", ("stage_id",)),
]


def check_phase_options(params):
    """What the argument spec cannot say: ``commit_at`` only with phase=commit, a usable stage_ttl and stage_id."""
    phase = params["phase"]
    if params.get("commit_at") not in (None, "") and phase != "commit":
        raise InputError(f"commit_at is only used with phase=commit (phase={phase}): remove it from this task")
    if params["stage_ttl"] <= 0:
        raise InputError(f"stage_ttl={params['stage_ttl']}: use a number of seconds > 0 (how long a stage waits "
                         "for its commit)")
    stage_id = params.get("stage_id")
    if phase != "apply" and (not stage_id or not stage_id.strip()):
        raise InputError(f"phase={phase} needs a non-empty stage_id (the same for every host of one fleet switch)")


def phase_result(phase, stage_id=None):
    """The two-phase keys of a result, before the phase fills them in."""
    return {"staged": False, "stage_id": stage_id if phase != "apply" else None,
            "stage_expires_at": None, "commit_at": None, "committed_at": None, "commit_late_ms": None}
