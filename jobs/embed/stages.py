"""The embedding pass's per-block stage: the plan applied to rows read again, then hashed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from actors.config import ModelConfig
from jobs.embed.buckets import DECISIONS_SCHEMA, DUPLICATE, UNCHANGED
from jobs.embed.chunks import CHUNKS, EMBED_TEXT, chunk_documents, expand_chunks, head_chunks
from jobs.embed.plan import RowPlan
from jobs.embed.rows import (
    FILE,
    RAW,
    REJECT,
    ROW,
    cast_carried,
    content_hashes,
    fill_raw_records,
    hashed_texts,
    row_keys,
    set_rejects,
    validate_rows,
)
from storage.schema import CHUNK_COLUMNS


def prepare_rows(batch: pa.Table, plan: RowPlan, fingerprint: str,
                 chunking: ModelConfig | None = None, max_chunks: int = 0) -> pa.Table:
    """Embedding pass: apply the plan (unchanged and resumed rows out, duplicates rejected), hash.

    With `chunking` (the run's model config, chunked runs), each document still to embed
    becomes one row per chunk; a document giving more than max_chunks is rejected.
    """
    table = validate_rows(batch)
    if plan.needs_decisions:
        table = apply_decisions(table, read_decisions(plan.decisions_uri, row_keys(table)),
                                plan.reused_records)
    pieces = None
    if chunking is not None:
        table, pieces = chunk_documents(table, chunking, max_chunks)
    table = fill_raw_records(table)  # before casting, so a reject keeps the source's values
    table = cast_carried(table, plan.carried)
    table = table.append_column("content_hash", content_hashes(hashed_texts(table, chunking),
                                                               fingerprint))
    if pieces is None:
        return table.select(["id", "text", *plan.carried.names, "content_hash", FILE, ROW, REJECT,
                             RAW])
    chunks = expand_chunks(table, pieces)
    headed = [EMBED_TEXT] if chunking.chunk_header is not None else []
    if headed:
        chunks = head_chunks(chunks, chunking)
    return chunks.select(["id", *CHUNK_COLUMNS, "text", *plan.carried.names, "content_hash", CHUNKS,
                          *headed, FILE, ROW, REJECT, RAW])


def read_decisions(decisions_uri: str, keys: np.ndarray) -> pa.Table:
    """The plan's decisions for a block's keys (a key range read from every bucket's file)."""
    import pyarrow.dataset as pads

    from storage.run_stage import filesystem, parquet_files

    files = parquet_files(decisions_uri)
    if len(keys) == 0 or not files:
        return DECISIONS_SCHEMA.empty_table()
    fs, _ = filesystem(decisions_uri)
    dataset = pads.dataset([filesystem(f)[1] for f in files], schema=DECISIONS_SCHEMA,
                           filesystem=fs, format="parquet")
    lo, hi = int(keys.min()), int(keys.max())
    return dataset.to_table(filter=(pads.field("key") >= lo) & (pads.field("key") <= hi))


def apply_decisions(table: pa.Table, decisions: pa.Table, reused_records: frozenset[str]) -> pa.Table:
    """Drop unchanged rows and rows a reused record holds; reject duplicates with their reason."""
    position = pc.index_in(pa.array(row_keys(table), pa.int64()),
                           value_set=decisions.column("key").combine_chunks())
    action = pc.take(decisions.column("action").combine_chunks(), position)
    record = pc.take(decisions.column("record").combine_chunks(), position)
    reused = pc.is_in(record, value_set=pa.array(sorted(reused_records), pa.string()))
    drop = pc.or_(pc.fill_null(pc.equal(action, UNCHANGED), False), pc.fill_null(reused, False))
    table = table.filter(pc.invert(drop))
    position = position.filter(pc.invert(drop))
    duplicate = pc.fill_null(pc.equal(pc.take(decisions.column("action").combine_chunks(),
                                              position), DUPLICATE), False)
    mask = duplicate.to_numpy(zero_copy_only=False)
    if mask.any():
        reasons = pc.take(decisions.column("reason").combine_chunks(), position).filter(duplicate)
        table = set_rejects(table, mask, reasons.to_pylist())
    return table
