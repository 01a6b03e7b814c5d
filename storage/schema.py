"""Table schemas: the vector table (id, text, carried columns, vector, hash, time) and the rejects table."""

from __future__ import annotations

import pyarrow as pa

from storage.provenance import Provenance, with_provenance

VECTOR = "vector"
VECTOR_FULL = "vector_full"
# Columns embedfleet writes itself (a source column of the same name would be overwritten), and
# those never shown to a user as data (vectors and hashes).
OWN_COLUMNS = ("id", "text", VECTOR, VECTOR_FULL, "content_hash", "embedded_at")
HIDDEN_COLUMNS = (VECTOR, VECTOR_FULL, "content_hash")
TIMESTAMP = pa.timestamp("us", tz="UTC")
# A chunked table's own columns: one row per chunk of a document (jobs/embed/chunks.py).
DOC_ID, CHUNK, START, END = "doc_id", "chunk", "start", "end"
CHUNK_FIELDS = (pa.field(DOC_ID, pa.string()), pa.field(CHUNK, pa.int32()),
                pa.field(START, pa.int64()), pa.field(END, pa.int64()))
CHUNK_COLUMNS = tuple(f.name for f in CHUNK_FIELDS)


def is_chunked(schema: pa.Schema) -> bool:
    """True for a table of document chunks (one row per chunk, `doc_id` naming its document)."""
    return DOC_ID in schema.names and CHUNK in schema.names


def own_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The columns embedfleet wrote into a table (the rest were carried from its source)."""
    return OWN_COLUMNS + (CHUNK_COLUMNS if is_chunked(schema) else ())


def vector_type(dim: int, dtype: str = "float32") -> pa.DataType:
    """FixedSizeList of float32 (or float16) with the table's dimension."""
    value = pa.float16() if dtype == "float16" else pa.float32()
    return pa.list_(value, dim)


def table_schema(carried: pa.Schema, vector: pa.DataType, provenance: Provenance | None = None,
                 full_vector: pa.DataType | None = None, chunked: bool = False) -> pa.Schema:
    """id, [doc_id, chunk, start, end,] text, the carried columns, vector, content_hash,
    embedded_at (+ provenance)."""
    fields = [pa.field("id", pa.string()), *(CHUNK_FIELDS if chunked else ()),
              pa.field("text", pa.string()), *carried, pa.field(VECTOR, vector)]
    if full_vector is not None:
        fields.append(pa.field("vector_full", full_vector))
    fields += [pa.field("content_hash", pa.string()), pa.field("embedded_at", TIMESTAMP)]
    schema = pa.schema(fields)
    return with_provenance(schema, provenance) if provenance is not None else schema


REJECTS_SCHEMA = pa.schema([
    pa.field("run_id", pa.string()),
    pa.field("id", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("source_file", pa.string()),
    pa.field("source_row", pa.int64()),
    pa.field("record", pa.string()),
    pa.field("rejected_at", TIMESTAMP),
])
