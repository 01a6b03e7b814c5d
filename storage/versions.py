"""Table versions: what each one holds, and restoring an earlier one as a new version."""

from __future__ import annotations

from storage.db import dataset_or_none, open_table, table_uri
from storage.errors import UserError
from storage.provenance import provenance_of
from storage.runs import list_runs


class VersionError(UserError, LookupError):
    """The requested version does not exist (or was pruned)."""


def table_versions(db: str, name: str) -> list[dict]:
    """Every version of a table, oldest first: when, rows, model, dim, and the run that wrote it."""
    dataset = open_table(db, name).to_lance()
    by_version: dict[int, dict] = {}
    for run in list_runs(db, name):  # oldest first: the run that made a version comes first
        if run["version"] is not None and run["status"] == "succeeded":
            by_version.setdefault(run["version"], run)
    out = []
    for entry in dataset.versions():
        number = entry["version"]
        snapshot = dataset_or_none(db, name, number)
        provenance = provenance_of(snapshot.schema) if snapshot is not None else None
        run = by_version.get(number, {})
        out.append({"version": number, "timestamp": entry["timestamp"],
                    "rows": snapshot.count_rows() if snapshot is not None else None,
                    "model": provenance.model if provenance else None,
                    "dim": provenance.dim if provenance else None,
                    "run_id": run.get("run_id"), "mode": run.get("mode"),
                    "current": number == dataset.version})
    return out


def restore_version(db: str, name: str, version: int) -> int:
    """Make `version` the table's content again, as a new version; return that new version."""
    table = open_table(db, name)
    known = [v["version"] for v in table.list_versions()]
    if version not in known:
        raise VersionError(f"table {name!r} has no version {version} (versions: "
                           f"{', '.join(map(str, known))}) at {table_uri(db, name)}")
    if version == table.version:
        return version
    table.restore(version)
    return table.version
