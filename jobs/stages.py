"""Per-block stage functions run by Ray Data tasks: planning keys and row preparation."""

from __future__ import annotations

import pyarrow as pa

from jobs.plan import RowPlan
from jobs.rows import (
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


def extract_keys(batch: pa.Table) -> pa.Table:
    """Planning pass: id, (file, row), reject reason per row, and the block's carried schema."""
    table = validate_rows(batch)
    schema = carried_schema(table).serialize().to_pybytes()
    schemas = pa.array([schema] + [None] * (table.num_rows - 1), pa.binary())
    return pa.table({"id": table.column("id"), FILE: table.column(FILE), ROW: table.column(ROW),
                     REJECT: table.column(REJECT), SCHEMA_COLUMN: schemas})


def prepare_rows(batch: pa.Table, plan: RowPlan, fingerprint: str) -> pa.Table:
    """Embedding pass: apply the plan's rejects, give carried columns the run's types, hash."""
    table = validate_rows(batch)
    duplicates, reasons = plan.duplicate_reasons_for(row_keys(table))
    if duplicates.any():
        table = set_rejects(table, duplicates, reasons)
    table = fill_raw_records(table)  # before casting, so a reject keeps the source's values
    table = cast_carried(table, plan.carried)
    table = table.append_column("content_hash", content_hashes(table.column("text"), fingerprint))
    return table.select(["id", "text", *plan.carried.names, "content_hash", FILE, ROW, REJECT, RAW])
