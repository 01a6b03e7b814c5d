"""The runs table ('<table>__runs'): one row per run with its counts, timing and version."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa

from storage.db import connect, dataset_or_none
from storage.names import companion
from storage.schema import TIMESTAMP

RUNS_SCHEMA = pa.schema([
    pa.field("run_id", pa.string()),
    pa.field("status", pa.string()),
    pa.field("mode", pa.string()),
    pa.field("started_at", TIMESTAMP),
    pa.field("finished_at", TIMESTAMP),
    pa.field("version", pa.int64()),
    pa.field("read", pa.int64()),
    pa.field("embedded", pa.int64()),
    pa.field("rejected", pa.int64()),
    pa.field("skipped_unchanged", pa.int64()),
    pa.field("seconds", pa.float64()),
    pa.field("error", pa.string()),
    pa.field("summary", pa.string()),  # the full summary as JSON, for fields added later
])


EXTRA_FIELDS = ("updated", "inserted", "deleted", "resumed", "resumed_from", "job_id", "chunks",
                "truncation")


def record_run(db: str, table: str, summary: dict, started_at: datetime,
               finished_at: datetime) -> None:
    """Append one run to the table's runs table."""
    row = {name: summary.get(name) for name in RUNS_SCHEMA.names}
    row.update(started_at=started_at, finished_at=finished_at, summary=json.dumps(summary))
    data = pa.Table.from_pylist([row], schema=RUNS_SCHEMA)
    name = companion(table, "runs")
    connection = connect(db)
    if dataset_or_none(db, name) is None:
        try:
            connection.create_table(name, data=data)
            return
        except ValueError:  # another run (or a scheduler tick) created it meanwhile
            pass
    connection.open_table(name).add(data)


def list_runs(db: str, table: str) -> list[dict]:
    """Every recorded run of a table, oldest first."""
    dataset = dataset_or_none(db, companion(table, "runs"))
    if dataset is None:
        return []
    rows = dataset.to_table().to_pylist()
    for row in rows:
        # Counters added after the schema was fixed live only in the summary JSON.
        extra = json.loads(row["summary"]) if row.get("summary") else {}
        for key in EXTRA_FIELDS:
            row.setdefault(key, extra.get(key))
    return sorted(rows, key=lambda r: r["started_at"])
