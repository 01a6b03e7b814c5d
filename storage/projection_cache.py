"""The projections table ('<table>__projections'): cached UMAP coordinates per table version."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pyarrow as pa

from storage.db import connect, dataset_or_none
from storage.names import companion
from storage.schema import TIMESTAMP

log = logging.getLogger(__name__)

PROJECTIONS_SCHEMA = pa.schema([
    pa.field("key", pa.string()),            # hash of (table, version, n, seed, params)
    pa.field("table", pa.string()),
    pa.field("version", pa.int64()),
    pa.field("n", pa.int64()),
    pa.field("seed", pa.int64()),
    pa.field("params", pa.string()),         # UMAP parameters and library version, JSON
    pa.field("positions", pa.list_(pa.int64())),  # row positions of the sample in that version
    pa.field("ids", pa.list_(pa.string())),
    pa.field("x", pa.list_(pa.float32())),
    pa.field("y", pa.list_(pa.float32())),
    pa.field("trustworthiness", pa.float64()),
    pa.field("seconds", pa.float64()),
    pa.field("created_at", TIMESTAMP),
])


def load_projection(db: str, table: str, key: str) -> dict | None:
    """The cached row for a key, or None."""
    dataset = dataset_or_none(db, companion(table, "projections"))
    if dataset is None:
        return None
    # The key is a hex digest made here, never user text, so it is safe inside the filter.
    rows = dataset.to_table(filter=f"key = '{key}'", limit=1).to_pylist()
    return rows[0] if rows else None


def save_projection(db: str, table: str, row: dict) -> bool:
    """Append a projection; False (and a log line) if the cache cannot be written."""
    data = pa.Table.from_pylist([{**row, "created_at": datetime.now(UTC)}],
                                schema=PROJECTIONS_SCHEMA)
    name = companion(table, "projections")
    try:
        connection = connect(db)
        if dataset_or_none(db, name) is None:
            try:
                connection.create_table(name, data=data)
                return True
            except ValueError:  # another replica created it meanwhile
                pass
        connection.open_table(name).add(data)
        return True
    except Exception:  # noqa: BLE001 - a read-only database still answers, just uncached
        log.warning("could not cache the projection of %r", table, exc_info=True)
        return False


def cached_versions(db: str, table: str) -> list[int]:
    """Table versions that have at least one cached projection, ascending."""
    dataset = dataset_or_none(db, companion(table, "projections"))
    if dataset is None:
        return []
    return sorted(set(dataset.to_table(columns=["version"]).column("version").to_pylist()))
