"""Per-block stage functions run by Ray Data tasks: planning keys and row preparation."""

from __future__ import annotations

import pyarrow as pa

from jobs.embed.changes import keys_in
from jobs.embed.plan import RowPlan
from jobs.embed.rows import (
    FILE,
    RAW,
    REJECT,
    ROW,
    carried_schema,
    cast_carried,
    content_hashes,
    fill_raw_records,
    row_keys,
    set_rejects,
    validate_rows,
)

SCHEMA_COLUMN = "_schema"


def extract_keys(batch: pa.Table, fingerprint: str | None = None) -> pa.Table:
    """Planning pass: id, (file, row), reject reason per row, and the block's carried schema.

    With a fingerprint (incremental runs) each row's content hash comes along too, so the
    driver can tell unchanged rows before any model loads.
    """
    table = validate_rows(batch)
    schema = carried_schema(table).serialize().to_pybytes()
    schemas = pa.array([schema] + [None] * (table.num_rows - 1), pa.binary())
    columns = {"id": table.column("id"), FILE: table.column(FILE), ROW: table.column(ROW),
               REJECT: table.column(REJECT), SCHEMA_COLUMN: schemas}
    if fingerprint is not None:
        columns["content_hash"] = content_hashes(table.column("text"), fingerprint)
    return pa.table(columns)


def prepare_rows(batch: pa.Table, plan: RowPlan, fingerprint: str) -> pa.Table:
    """Embedding pass: drop unchanged rows, apply the plan's rejects, cast carried columns, hash."""
    if plan.skipped:
        batch = batch.filter(pa.array(~keys_in(plan.skip_keys, row_keys(batch))))
    table = validate_rows(batch)
    duplicates, reasons = plan.duplicate_reasons_for(row_keys(table))
    if duplicates.any():
        table = set_rejects(table, duplicates, reasons)
    table = fill_raw_records(table)  # before casting, so a reject keeps the source's values
    table = cast_carried(table, plan.carried)
    table = table.append_column("content_hash", content_hashes(table.column("text"), fingerprint))
    return table.select(["id", "text", *plan.carried.names, "content_hash", FILE, ROW, REJECT, RAW])
