"""What `embedfleet info` shows: rows, dimension, provenance, versions of a table."""

from __future__ import annotations

from storage.db import dataset_or_none, open_table, table_uri
from storage.index import index_status
from storage.names import companion
from storage.provenance import provenance_of


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
        "indexes": index_status(db, name),
    }
    if provenance is not None:
        data = provenance.to_dict()
        info["libraries"] = data.pop("versions")
        info["provenance"] = data
    return info
