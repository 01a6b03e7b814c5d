"""What `embedfleet info` shows: rows, dimension, provenance, versions of a table."""

from __future__ import annotations

from storage.db import dataset_or_none, open_table, table_uri
from storage.index import index_status
from storage.names import companion
from storage.provenance import provenance_of
from storage.runs import list_runs
from storage.schema import CHUNK, is_chunked


def table_info(db: str, name: str) -> dict:
    """A table's facts as plain data."""
    table = open_table(db, name)
    dataset = table.to_lance()
    provenance = provenance_of(dataset.schema)
    rejects = dataset_or_none(db, companion(name, "rejects"))
    info = {
        "table": name,
        "uri": table_uri(db, name),
        "rows": dataset.count_rows(),
        "version": dataset.version,
        "versions": len(dataset.versions()),
        "dim": provenance.dim if provenance else None,
        "columns": [f"{f.name}: {f.type}" for f in dataset.schema],
        "rejected_rows": rejects.count_rows() if rejects is not None else 0,
        "indexes": index_status(db, name, text=True),  # the full-text index too
    }
    if is_chunked(dataset.schema):
        info["documents"] = dataset.count_rows(filter=f"{CHUNK} = 0")
    truncation = last_truncation(db, name)
    if truncation is not None:
        info["truncation"] = truncation
    if provenance is not None:
        data = provenance.to_dict()
        info["libraries"] = data.pop("versions")
        info["provenance"] = data
    return info


def last_truncation(db: str, name: str) -> dict | None:
    """The truncation report of the table's last successful run that measured one."""
    for run in reversed(list_runs(db, name)):
        if run.get("status") == "succeeded" and run.get("truncation"):
            return run["truncation"]
    return None
