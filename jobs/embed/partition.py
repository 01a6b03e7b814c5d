"""The planning pass's stages: hash-partition rows by id into files, then decide each bucket.

Keys of the source (a Ray Data read), the table's (id, content_hash) and a dead run's write records
(plain tasks) are all written to `<plan>/<part>/b=<bucket>/`; one task per bucket then reads its
three shares and writes that bucket's decisions, so the driver only ever sees counts.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from actors.config import ModelConfig
from jobs.embed.buckets import plan_bucket, split_by_bucket
from jobs.embed.rows import REJECT, carried_schema, content_hashes, hashed_texts, row_keys, validate_rows
from storage.run_stage import filesystem, read_parquet_folder, write_parquet_atomically
from storage.schema import CHUNK, DOC_ID

SCHEMA_COLUMN = "_schema"
KEYS, TABLE, RECORDS, DECISIONS, GONE = "keys", "table", "records", "decisions", "gone"
BUCKET_BYTES = 64 * 1024 * 1024  # source bytes per bucket: a bucket task holds its share's keys
MAX_BUCKETS = 1024
TABLE_BATCH_ROWS = 262_144  # table rows a partition task holds at once


def bucket_count(source_bytes: int) -> int:
    """How many id buckets a corpus of this size is partitioned into."""
    return max(4, min(MAX_BUCKETS, source_bytes // BUCKET_BYTES + 1))


def bucket_groups(buckets: int, source_bytes: int) -> list[list[int]]:
    """The buckets each decide task takes: one task per BUCKET_BYTES of source at most.

    A task decides its buckets one after the other, so its memory is one bucket's whatever
    the group; a small corpus's buckets go to one task, since each task can cost a worker
    process start (a second or more of CPU) while deciding a small bucket takes milliseconds.
    """
    tasks = max(1, min(buckets, -(-source_bytes // BUCKET_BYTES)))
    return [list(range(first, buckets, tasks)) for first in range(tasks)]


def partition_keys(batch: pa.Table, plan_uri: str, buckets: int,
                   fingerprint: str | None = None, model: ModelConfig | None = None) -> pa.Table:
    """Write each row's id, (file, row) key and validity to its id's bucket.

    With a fingerprint (incremental or resumed runs) each row's content hash comes along too.
    With the model config, valid rows' tokens are counted (the truncation report).
    Returns one row for the block: rows read, rows rejected, the carried schema, token counts.
    """
    table = validate_rows(batch)
    valid = pc.is_null(table.column(REJECT))
    columns = {"id": table.column("id").cast(pa.string()),
               "key": pa.array(row_keys(table), pa.int64()), "valid": valid}
    if fingerprint is not None:
        columns["content_hash"] = content_hashes(hashed_texts(table, model), fingerprint)
    keys = pa.table(columns).filter(pc.is_valid(table.column("id")))
    write_buckets(keys, f"{plan_uri}/{KEYS}", buckets)
    truncation = truncation_counts(table.column("text").filter(valid).to_pylist(), model)
    return pa.table({"rows": [table.num_rows],
                     "rejected": [table.num_rows - int(pc.sum(valid).as_py() or 0)],
                     SCHEMA_COLUMN: [carried_schema(table).serialize().to_pybytes()],
                     **{k: [v] for k, v in truncation.items()}})


def truncation_counts(texts: list[str], model: ModelConfig | None) -> dict[str, int]:
    """Documents, their tokens (prefix and specials included), those over the window and the
    tokens past it; -1 each where there is no window to measure against (fake:DIM, a factory)."""
    from actors.encoders.tokens import token_counter

    counter = token_counter(model) if model is not None else None
    if counter is None or counter.window is None:
        return {"documents": len(texts), "tokens": -1, "over_window": -1, "tokens_past_window": -1}
    full = counter.full_counts([model.doc_prefix + t for t in texts])
    past = np.maximum(full - counter.window, 0)
    return {"documents": len(texts), "tokens": int(full.sum()), "over_window": int((past > 0).sum()),
            "tokens_past_window": int(past.sum())}


def partition_record_files(files: list[str], out_uri: str, buckets: int) -> int:
    """Write the (id, content_hash, record) of write-record files to their buckets, a file at a time."""
    rows = 0
    for uri in files:
        fs, path = filesystem(uri)
        table = pq.read_table(path, columns=["id", "content_hash", "record"], filesystem=fs)
        write_buckets(table, out_uri, buckets)
        rows += table.num_rows
    return rows


def partition_table_fragments(uri: str, version: int, fragment_ids: list[int], chunked: bool,
                              out_uri: str, buckets: int) -> int:
    """Write the (id, content_hash) of some of a table's fragments to their buckets; count them.

    A chunked table is keyed by document: its first chunk holds the document's id and hash.
    """
    import lance

    dataset = lance.dataset(uri, version=version)
    columns, where = ([DOC_ID, "content_hash"], f"{CHUNK} = 0") if chunked else (["id", "content_hash"], None)
    rows = 0
    for fragment_id in fragment_ids:
        scanner = dataset.scanner(columns=columns, filter=where, batch_size=TABLE_BATCH_ROWS,
                                  fragments=[dataset.get_fragment(fragment_id)])
        for batch in scanner.to_batches():
            table = pa.Table.from_batches([batch]).rename_columns(["id", "content_hash"])
            write_buckets(table, out_uri, buckets)
            rows += table.num_rows
    return rows


def write_buckets(table: pa.Table, out_uri: str, buckets: int) -> None:
    """One Parquet file per non-empty bucket: <out>/b=<bucket>/<unique>.parquet."""
    name = uuid.uuid4().hex
    for bucket, part in split_by_bucket(table, buckets).items():
        write_parquet_atomically(part, f"{out_uri}/{bucket_folder(bucket)}/{name}.parquet")


def bucket_folder(bucket: int) -> str:
    """The folder name of one bucket."""
    return f"b={bucket:05d}"


def read_bucket(uri: str) -> pa.Table | None:
    """Every file of one bucket's folder as one table; None if nothing was written there."""
    return read_parquet_folder(uri)


def decide_buckets(batch: pa.Table, plan_uri: str, file_names: list[str], incremental: bool,
                   delete_missing: bool) -> pa.Table:
    """One task per bucket: duplicates, the diff, record matches; decisions to files, counts back."""
    out = []
    for bucket in batch.column("bucket").to_pylist():
        folder = bucket_folder(bucket)
        source = read_bucket(f"{plan_uri}/{KEYS}/{folder}")
        if source is None:
            source = pa.table({"id": pa.array([], pa.string()), "key": pa.array([], pa.int64()),
                               "valid": pa.array([], pa.bool_()),
                               "content_hash": pa.array([], pa.string())})
        table = read_bucket(f"{plan_uri}/{TABLE}/{folder}") if incremental else None
        if incremental and table is None:
            table = pa.table({"id": pa.array([], pa.string()),
                              "content_hash": pa.array([], pa.string())})
        plan = plan_bucket(source, file_names, table, read_bucket(f"{plan_uri}/{RECORDS}/{folder}"),
                           delete_missing)
        if plan.decisions.num_rows:
            write_parquet_atomically(plan.decisions, f"{plan_uri}/{DECISIONS}/{folder}.parquet")
        if plan.gone.num_rows:
            write_parquet_atomically(plan.gone, f"{plan_uri}/{GONE}/{folder}.parquet")
        matched = dict(zip(plan.records.column("record").to_pylist(),
                           plan.records.column("matched").to_pylist(), strict=True))
        out.append({**plan.counts(), "records": json.dumps(matched)})
    return pa.Table.from_pylist(out)

