"""Incremental runs: which source rows changed against the table, and which ids left the source."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class ChangeError(ValueError):
    """The table cannot be updated row by row (e.g. it holds the same id twice)."""


@dataclass(frozen=True)
class ChangeSet:
    """What an incremental run will do, decided before any model loads."""

    skip_keys: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    to_update: int = 0
    to_insert: int = 0
    missing_ids: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        """Rows whose (id, content_hash) is already in the table."""
        return len(self.skip_keys)


def check_unique_ids(existing: pa.Table) -> None:
    """Refuse a table holding an id twice: an upsert on it would be ambiguous."""
    if existing.num_rows == 0:
        return
    counts = existing.group_by("id").aggregate([("id", "count")])
    repeated = counts.filter(pc.greater(counts.column("id_count"), 1))
    if repeated.num_rows:
        sample = ", ".join(repr(i) for i in repeated.column("id").to_pylist()[:3])
        raise ChangeError(f"the table holds {repeated.num_rows} id(s) more than once ({sample}; "
                          "written by --mode append?); an incremental run cannot tell which row "
                          "to update: use --mode rebuild")


def diff_rows(rows: pa.Table, existing: pa.Table, source_ids: pa.Array | pa.ChunkedArray,
              delete_missing: bool) -> ChangeSet:
    """Compare the rows to embed (id, key, content_hash) with the table (id, content_hash).

    Unchanged rows (same id and hash) are skipped; a known id with another hash is updated; a
    new id is inserted. With delete_missing, table ids absent from source_ids are listed.
    """
    check_unique_ids(existing)
    old = pa.table({"id": existing.column("id"), "_old_hash": existing.column("content_hash")})
    joined = rows.select(["id", "key", "content_hash"]).join(old, keys="id", join_type="left outer")
    known = pc.is_valid(joined.column("_old_hash"))
    same = pc.fill_null(pc.equal(joined.column("content_hash"), joined.column("_old_hash")), False)
    skip = np.sort(joined.filter(same).column("key").to_numpy().astype(np.int64))
    to_update = int(pc.sum(pc.and_(known, pc.invert(same))).as_py() or 0)
    missing: list[str] = []
    if delete_missing and existing.num_rows:
        present = pc.unique(pc.drop_null(source_ids))
        gone = pc.invert(pc.is_in(existing.column("id"), value_set=present))
        missing = sorted(existing.column("id").filter(gone).to_pylist())
    return ChangeSet(skip_keys=skip, to_update=to_update,
                     to_insert=rows.num_rows - int(pc.sum(known).as_py() or 0), missing_ids=missing)


def id_filter(ids: list[str]) -> str:
    """A SQL filter matching exactly these ids (quotes doubled, as SQL escapes them)."""
    quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    return f"id IN ({quoted})"


def keys_in(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Mask of the keys found in a sorted int64 key array."""
    if len(sorted_keys) == 0 or len(keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys
