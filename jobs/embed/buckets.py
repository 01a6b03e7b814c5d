"""The distributed plan's pure logic: hash-partition rows by id, then decide one bucket at a time.

Every row with a given id lands in the same bucket, so duplicates, the incremental diff and the
match against a dead run's write records are all decided inside one bucket, by one task, with
no row's key ever reaching the driver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.embed.changes import check_unique_ids
from jobs.embed.rows import split_key

EMBED, UNCHANGED, DUPLICATE = "embed", "unchanged", "duplicate"
_WEIGHTS = np.random.default_rng(20261201).integers(1, 2**63, size=64, dtype=np.uint64) | np.uint64(1)
DECISIONS_SCHEMA = pa.schema([("key", pa.int64()), ("action", pa.string()),
                              ("reason", pa.string()), ("record", pa.string())])


def id_buckets(ids: pa.Array | pa.ChunkedArray, buckets: int) -> np.ndarray:
    """Bucket (0..buckets-1) of each id, the same in every process (no Python hash seed)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    ids = pc.fill_null(ids.cast(pa.large_string()), "")
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64)[ids.offset: ids.offset + len(ids) + 1]
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    relative = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
    terms = (data.astype(np.uint64) + np.uint64(1)) * _WEIGHTS[relative % len(_WEIGHTS)]
    hashes = np.zeros(len(ids), dtype=np.uint64)
    filled = lengths > 0
    if len(data):
        hashes[filled] = np.add.reduceat(terms, starts[filled])
    hashes ^= hashes >> np.uint64(31)  # mix the high bits down before taking the remainder
    hashes *= np.uint64(0x9E3779B97F4A7C15)
    hashes ^= hashes >> np.uint64(29)
    return (hashes % np.uint64(buckets)).astype(np.int64)


def split_by_bucket(table: pa.Table, buckets: int) -> dict[int, pa.Table]:
    """The table's rows grouped by the bucket of their id (only non-empty buckets)."""
    if table.num_rows == 0:
        return {}
    bucket = id_buckets(table.column("id"), buckets)
    order = np.argsort(bucket, kind="stable")
    ends = np.flatnonzero(np.diff(bucket[order])) + 1
    out = {}
    for part in np.split(order, ends):
        out[int(bucket[part[0]])] = table.take(pa.array(part))
    return out


@dataclass
class BucketPlan:
    """One bucket's decisions (a row per valid source row) and its counts."""

    decisions: pa.Table
    gone: pa.Table
    records: pa.Table
    duplicates: int = 0
    unchanged: int = 0
    changed: int = 0
    new: int = 0

    def counts(self) -> dict:
        """The counts the driver sums over buckets."""
        return {"duplicates": self.duplicates, "unchanged": self.unchanged,
                "changed": self.changed, "new": self.new, "gone": self.gone.num_rows}


def plan_bucket(source: pa.Table, file_names: list[str], table: pa.Table | None = None,
                records: pa.Table | None = None, delete_missing: bool = False) -> BucketPlan:
    """Decide every row of one bucket.

    source: id, key, valid, content_hash of each row read (the bucket's share);
    table: id, content_hash of the table's rows (incremental runs);
    records: id, content_hash, record of rows a dead run already embedded and wrote.
    Duplicates: the first row of an id by (file, row) wins, the rest are rejected with a reason.
    Unchanged: same id and content hash as the table. A record row matches a row still to embed
    with the same id and hash; `records` in the result counts matches per record.
    """
    valid = source.filter(source.column("valid"))
    order = pc.sort_indices(valid, sort_keys=[("id", "ascending"), ("key", "ascending")])
    valid = valid.take(order)
    ids = valid.column("id").combine_chunks()
    keys = valid.column("key").to_numpy()
    repeat = np.zeros(valid.num_rows, dtype=bool)
    if valid.num_rows > 1:
        repeat[1:] = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy(zero_copy_only=False)
    first_index = np.maximum.accumulate(np.where(repeat, 0, np.arange(valid.num_rows)))
    action = np.where(repeat, DUPLICATE, EMBED).astype(object)
    reason = np.full(valid.num_rows, None, dtype=object)
    for i in np.flatnonzero(repeat):
        file_index, row = split_key(int(keys[first_index[i]]))
        reason[i] = (f"duplicate id {ids[i].as_py()!r} (first seen in {file_names[file_index]} "
                     f"row {row})")
    firsts = ~repeat
    plan = BucketPlan(decisions=pa.table({}), gone=pa.table({"id": pa.array([], pa.string())}),
                      records=pa.table({"record": pa.array([], pa.string()),
                                        "matched": pa.array([], pa.int64())}),
                      duplicates=int(repeat.sum()))
    if table is not None:
        _diff(plan, valid, firsts, action, table, source, delete_missing)
    record = np.full(valid.num_rows, None, dtype=object)
    if records is not None and records.num_rows:
        _match_records(plan, valid, action, record, records)
    plan.decisions = pa.table({"key": pa.array(keys, pa.int64()),
                               "action": pa.array(action, pa.string()),
                               "reason": pa.array(reason, pa.string()),
                               "record": pa.array(record, pa.string())},
                              schema=DECISIONS_SCHEMA).sort_by("key")
    return plan


def _diff(plan: BucketPlan, valid: pa.Table, firsts: np.ndarray, action: np.ndarray,
          table: pa.Table, source: pa.Table, delete_missing: bool) -> None:
    """Against the table: unchanged rows are not embedded; count changed and new ones."""
    check_unique_ids(table)
    old_hash = _lookup(valid.column("id"), table.column("id"), table.column("content_hash"))
    known = pc.is_valid(old_hash).to_numpy(zero_copy_only=False)
    same = pc.fill_null(pc.equal(valid.column("content_hash"), old_hash), False).to_numpy(
        zero_copy_only=False)
    action[firsts & same] = UNCHANGED
    plan.unchanged = int((firsts & same).sum())
    plan.changed = int((firsts & known & ~same).sum())
    plan.new = int((firsts & ~known).sum())
    if delete_missing and table.num_rows:
        gone = pc.invert(pc.is_in(table.column("id"), value_set=source.column("id").combine_chunks()))
        plan.gone = pa.table({"id": table.column("id").filter(gone)})


def _match_records(plan: BucketPlan, valid: pa.Table, action: np.ndarray, record: np.ndarray,
                   records: pa.Table) -> None:
    """Rows still to embed that a dead run already wrote, with the same content hash."""
    to_embed = action == EMBED
    wanted = _lookup(records.column("id"), valid.column("id").filter(pa.array(to_embed)),
                     valid.column("content_hash").filter(pa.array(to_embed)))
    matched = pc.fill_null(pc.equal(records.column("content_hash"), wanted), False)
    hits = records.filter(matched)
    counts = hits.group_by("record").aggregate([("id", "count")])
    plan.records = pa.table({"record": counts.column("record"),
                             "matched": counts.column("id_count").cast(pa.int64())})
    by_id = _lookup(valid.column("id"), hits.column("id"), hits.column("record"))
    found = pc.is_valid(by_id).to_numpy(zero_copy_only=False) & to_embed
    record[found] = np.asarray(by_id.to_pylist(), dtype=object)[found]


def _lookup(ids, table_ids, values) -> pa.Array:
    """values[table_ids.index(id)] for each id, null where absent (table_ids are unique)."""
    position = pc.index_in(ids, value_set=pa.chunked_array(table_ids).combine_chunks()
                           if isinstance(table_ids, pa.ChunkedArray) else table_ids)
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.take(values, position)
