"""Row-level logic on parsed tables: validation, content hashes, row keys, carried-column types."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from actors.config import ModelConfig
from jobs.embed.parse import FILE, INTERNAL_COLUMNS, RAW, REJECT, ROW

_ROW_BITS = 40  # a key is file_index << 40 | row: a trillion rows per file, 8M files


def validate_rows(table: pa.Table) -> pa.Table:
    """Set `_reject` for rows with a null or empty id or text (keeping any earlier reason)."""
    ids, texts = table.column("id"), table.column("text")
    checks = [
        (pc.is_null(ids), "missing id"),
        (pc.equal(pc.utf8_length(ids), 0), "empty id"),
        (pc.is_null(texts), "missing text"),
        (pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0), "empty text"),
    ]
    reasons = table.column(REJECT)
    for mask, reason in checks:
        mask = pc.and_(pc.fill_null(mask, False), pc.is_null(reasons))
        reasons = pc.if_else(mask, pa.scalar(reason), reasons)
    return table.set_column(table.schema.get_field_index(REJECT), REJECT, reasons)


def content_hashes(texts: pa.ChunkedArray | pa.Array, fingerprint: str) -> pa.Array:
    """blake2b-128 of (config fingerprint, text) per row; null text gives a null hash."""
    seed = hashlib.blake2b(fingerprint.encode(), digest_size=16)
    out = []
    for text in texts.to_pylist():
        if text is None:
            out.append(None)
            continue
        h = seed.copy()
        h.update(text.encode("utf-8", "surrogatepass"))
        out.append(h.hexdigest())
    return pa.array(out, pa.string())


def hashed_texts(table: pa.Table, model: ModelConfig | None) -> pa.ChunkedArray | pa.Array:
    """What a row's content hash covers besides the settings: its text, and its chunk header's
    value where chunks are headed (a changed title changes every chunk's vector)."""
    if model is None or model.chunk_header is None:
        return table.column("text")
    text = table.column("text")
    return pc.binary_join_element_wise(text, header_values(table, model.chunk_header).cast(text.type),
                                       "\x1f")


def header_values(table: pa.Table, column: str) -> pa.Array:
    """A --chunk-header column as strings, "" where a row has none (or its block no column)."""
    if column not in table.column_names:  # JSON lines whose records in this block lack the key
        return pa.array([""] * table.num_rows, pa.string())
    return pc.fill_null(table.column(column).cast(pa.string()), "").combine_chunks()


def row_keys(table: pa.Table) -> np.ndarray:
    """One int64 per row naming (file, row), stable between two reads of the same corpus."""
    files = table.column(FILE).to_numpy().astype(np.int64)
    rows = table.column(ROW).to_numpy().astype(np.int64)
    return (files << _ROW_BITS) | rows


def split_key(key: int) -> tuple[int, int]:
    """(file index, row) of a row key."""
    return key >> _ROW_BITS, key & ((1 << _ROW_BITS) - 1)


def carried_schema(table: pa.Table) -> pa.Schema:
    """The schema of the columns carried from the source into the table."""
    return pa.schema([f for f in table.schema if f.name not in ("id", "text", *INTERNAL_COLUMNS)])


def unify_types(types: list[pa.DataType]) -> pa.DataType:
    """One type that holds every value of the given types without loss."""
    known = [t for t in types if not pa.types.is_null(t)]
    if not known:
        return pa.string()
    if all(t == known[0] for t in known):
        return known[0]
    if all(pa.types.is_integer(t) for t in known):
        return pa.int64()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in known):
        return pa.float64()
    return pa.string()


def unify_schemas(schemas: list[pa.Schema]) -> pa.Schema:
    """Merge carried schemas seen across blocks and files into one, fields in first-seen order."""
    seen: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            seen.setdefault(f.name, []).append(f.type)
    return pa.schema([pa.field(name, _storable(unify_types(types))) for name, types in seen.items()])


def _storable(t: pa.DataType) -> pa.DataType:
    # Large variants and dictionaries carry nothing a plain column does not, and keep fragments uniform.
    if pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    return t


def cast_carried(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give the carried columns exactly the run's schema: missing ones null, others cast."""
    n = table.num_rows
    for f in schema:
        if f.name not in table.column_names:
            column = pa.nulls(n, f.type)
        else:
            column = table.column(f.name)
            if column.type != f.type:
                column = _cast_lossless(column, f.type)
        if f.name in table.column_names:
            table = table.set_column(table.schema.get_field_index(f.name), f.name, column)
        else:
            table = table.append_column(f.name, column)
    return table


def _cast_lossless(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_string(target) and not (pa.types.is_primitive(column.type)
                                           or pa.types.is_string(column.type)
                                           or pa.types.is_large_string(column.type)):
        return pa.chunked_array([pa.array([None if v is None else json.dumps(v, default=str)
                                           for v in column.to_pylist()], pa.string())])
    return pc.cast(column, target)


def fill_raw_records(table: pa.Table) -> pa.Table:
    """For rejected rows without a raw record yet, store the row's own values as JSON."""
    rejects = table.column(REJECT)
    need = pc.and_(pc.is_valid(rejects), pc.is_null(table.column(RAW)))
    if not pc.any(need).as_py():
        return table
    raws = table.column(RAW).to_pylist()
    user_columns = [c for c in table.column_names if c not in INTERNAL_COLUMNS]
    for i in np.flatnonzero(need.to_numpy(zero_copy_only=False)):
        record = {c: table.column(c)[int(i)].as_py() for c in user_columns}
        raws[i] = json.dumps(record, default=str, ensure_ascii=False)
    return table.set_column(table.schema.get_field_index(RAW), RAW, pa.array(raws, pa.string()))


def set_rejects(table: pa.Table, mask: np.ndarray, reasons: list[str] | np.ndarray) -> pa.Table:
    """Reject the masked rows (those not already rejected) with per-row reasons."""
    current = table.column(REJECT).to_pylist()
    for i, reason in zip(np.flatnonzero(mask), reasons, strict=True):
        if current[i] is None:
            current[i] = reason
    return table.set_column(table.schema.get_field_index(REJECT), REJECT,
                            pa.array(current, pa.string()))


__all__ = ["FILE", "ROW", "REJECT", "RAW", "validate_rows", "content_hashes", "hashed_texts",
           "header_values", "row_keys",
           "split_key", "carried_schema", "unify_schemas", "cast_carried", "fill_raw_records",
           "set_rejects"]
