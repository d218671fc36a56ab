# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the migrate role (expand/contract database migrations).

destructive_statements: statements of plain SQL migration files that break the release still
  running on the shared database (DROP COLUMN/TABLE, RENAME, ALTER ... TYPE, NOT NULL without a
  default on an existing table), parsed with sqlglot (optional controller dependency).
contract_blockers: colours that are live or can be rolled back to and run a release older than
  the contract's release.
versions_in_service: the releases of the live colour and of every colour that can be rolled back to.
rollback_blocked: whether a colour's release is older than a release whose contract migration ran.
Documentation: destructive_statements.yml, contract_blockers.yml, versions_in_service.yml, rollback_blocked.yml.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.compat.version import LooseVersion


def _sqlglot():
    """sqlglot, imported on first use: Ansible loads every filter file of the collection to resolve any one
    collection filter, in each task's worker, and importing sqlglot there cost every such task about 0.1 s."""
    try:
        import sqlglot  # noqa: PLC0415  # pylint: disable=import-outside-toplevel
    except ImportError as exc:  # optional: only the destructive-change guard needs it
        raise AnsibleFilterError(
            "destructive_statements needs the Python package sqlglot on the controller "
            "(pip install sqlglot, see requirements.txt); or set migrate_guard: false") from exc
    return sqlglot


def _statement_text(statement, limit=200):
    text = " ".join(statement.sql(dialect="postgres", comments=False).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _not_null_without_default(column_def, exp):
    constraints = [c.args.get("kind") for c in column_def.args.get("constraints") or []]
    not_null = any(isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in constraints)
    has_default = any(isinstance(k, exp.DefaultColumnConstraint) for k in constraints)
    return not_null and not has_default


def _reasons(statement, exp):
    """Why one parsed statement breaks the release that still runs on the old schema."""
    reasons = []
    if isinstance(statement, exp.Drop) and str(statement.args.get("kind") or "").upper() == "TABLE":
        reasons.append("DROP TABLE")
    if isinstance(statement, exp.Alter):
        for action in statement.args.get("actions") or []:
            if isinstance(action, exp.Drop) and str(action.args.get("kind") or "").upper() == "COLUMN":
                reasons.append("DROP COLUMN")
            elif isinstance(action, (exp.RenameColumn, exp.AlterRename)):
                reasons.append("RENAME")
            elif isinstance(action, exp.AlterColumn) and action.args.get("dtype") is not None:
                reasons.append("ALTER ... TYPE")
            elif isinstance(action, exp.AlterColumn) and action.args.get("allow_null") is False:
                reasons.append("SET NOT NULL on an existing column")
            elif isinstance(action, exp.ColumnDef) and _not_null_without_default(action, exp):
                reasons.append("ADD COLUMN ... NOT NULL without a default on an existing table")
    if isinstance(statement, exp.Command):
        # sqlglot could not parse it into a known statement: judge by its keyword only.
        keyword = str(statement.this or "").upper()
        rest = str(statement.expression or "").upper()
        if "RENAME" in rest.split() or keyword == "RENAME":
            reasons.append("RENAME")
    return reasons


def destructive_statements(files):
    """[{file, statement, reason}] for each destructive statement in [{path, content}] SQL files."""
    if isinstance(files, (str, bytes, Mapping)) or not isinstance(files, Sequence):
        raise AnsibleFilterError("destructive_statements expects a list of {path, content}")
    sqlglot = _sqlglot()
    found = []
    for entry in files:
        if not isinstance(entry, Mapping) or "path" not in entry or "content" not in entry:
            raise AnsibleFilterError(f"destructive_statements: each file must be {{path, content}}, got {entry!r}")
        try:
            statements = sqlglot.parse(entry["content"], read="postgres")
        except sqlglot.errors.ParseError as exc:
            raise AnsibleFilterError(
                f"{entry['path']}: not valid SQL for the destructive-change guard ({str(exc).splitlines()[0]}); "
                "fix the file or set migrate_guard: false") from exc
        for statement in statements:
            if statement is None:
                continue
            for reason in _reasons(statement, sqlglot.exp):
                found.append({"file": entry["path"], "statement": _statement_text(statement), "reason": reason})
    return found


def _older(version, release):
    try:
        return LooseVersion(str(version)) < LooseVersion(str(release))
    except TypeError:  # mixed numeric/text components: fall back to text order
        return str(version) < str(release)


def contract_blockers(versions_by_color, release):
    """[{color, version}] for every colour (live or rollback target) that runs a release older than `release`."""
    if not isinstance(versions_by_color, Mapping):
        raise AnsibleFilterError("contract_blockers expects {colour: [versions]}")
    if not release:
        raise AnsibleFilterError("contract_blockers needs the contract's release (migrate_release)")
    blockers = []
    for color, versions in versions_by_color.items():
        releases = [versions] if isinstance(versions, str) else versions or []
        blockers.extend({"color": color, "version": v} for v in releases if v and _older(v, release))
    return blockers


def versions_in_service(status, live):
    """{colour: [releases]} of the live colour and of every colour with a healthy host (a rollback target)."""
    if not isinstance(status, Mapping):
        raise AnsibleFilterError("versions_in_service expects the color_status mapping")
    in_service = {}
    for color, raw in status.items():
        entry = raw if isinstance(raw, Mapping) else {}
        if color == live or int(entry.get("healthy") or 0) > 0:
            in_service[color] = [v for v in entry.get("versions") or [] if v and v != "none"]
    return in_service


def rollback_blocked(versions, contract_releases):
    """True when any of the colour's releases is older than a release whose contract migration ran."""
    releases = [versions] if isinstance(versions, str) else versions or []
    contracts = [contract_releases] if isinstance(contract_releases, str) else contract_releases or []
    return any(_older(v, contract) for v in releases if v for contract in contracts if contract)


def contract_releases(hosts, hostvars, extra=None):
    """The releases whose contract migration ran, from each host's ``migrate_recorded_here`` and ``extra`` records.

    Sorted, without duplicates; hosts without a record count as none.
    """
    if isinstance(hosts, (str, bytes, Mapping)) or not isinstance(hosts, Sequence):
        raise AnsibleFilterError("contract_releases expects a list of hosts")
    records = [hostvars[host].get("migrate_recorded_here") for host in hosts if host in hostvars]
    records.extend([extra] if isinstance(extra, Mapping) else list(extra or []))
    releases = set()
    for record in records:
        if isinstance(record, Mapping) and isinstance(record.get("contract"), Mapping):
            releases.update(str(release) for release in record["contract"])
    return sorted(releases)


class FilterModule:
    def filters(self):
        return {
            "contract_releases": contract_releases,
            "destructive_statements": destructive_statements,
            "contract_blockers": contract_blockers,
            "rollback_blocked": rollback_blocked,
            "versions_in_service": versions_in_service,
        }
