"""Plan a run from the keys of every row read: which rows are duplicates, what gets embedded."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.embed.rows import REJECT, row_keys, split_key


@dataclass(frozen=True)
class RowPlan:
    """The decisions the embedding pass applies row by row, keyed by (file, row)."""

    read: int
    rejected_on_read: int
    duplicate_keys: np.ndarray
    duplicate_reasons: np.ndarray
    carried: pa.Schema = field(default_factory=lambda: pa.schema([]))
    skip_keys: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))

    @property
    def skipped(self) -> int:
        """Rows left out because the table already holds them unchanged (incremental runs)."""
        return len(self.skip_keys)

    @property
    def to_embed(self) -> int:
        """Rows that will reach the model."""
        return self.read - self.rejected_on_read - len(self.duplicate_keys) - self.skipped

    def duplicate_reasons_for(self, keys: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Mask of the given keys that are duplicates, and their reasons in mask order."""
        if len(self.duplicate_keys) == 0 or len(keys) == 0:
            return np.zeros(len(keys), dtype=bool), []
        pos = np.searchsorted(self.duplicate_keys, keys)
        pos = np.minimum(pos, len(self.duplicate_keys) - 1)
        mask = self.duplicate_keys[pos] == keys
        return mask, [self.duplicate_reasons[p] for p in pos[mask]]


def find_duplicates(ids: pa.Array, keys: np.ndarray, file_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Keys of every row whose id appeared earlier (file order, then row order), with reasons."""
    if len(keys) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=object)
    table = pa.table({"id": ids, "key": keys})
    order = pc.sort_indices(table, sort_keys=[("id", "ascending"), ("key", "ascending")]).to_numpy()
    sorted_ids = np.asarray(table.column("id").take(order).to_pylist(), dtype=object)
    sorted_keys = keys[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = sorted_ids[1:] == sorted_ids[:-1]
    # Index of the first row of each run of equal ids, carried forward over the repeats.
    first = np.where(repeat, 0, np.arange(len(order)))
    first = np.maximum.accumulate(first)
    dup_keys = sorted_keys[repeat]
    reasons = []
    for i in np.flatnonzero(repeat):
        file_index, row = split_key(int(sorted_keys[first[i]]))
        reasons.append(f"duplicate id {sorted_ids[i]!r} (first seen in {file_names[file_index]} "
                       f"row {row})")
    by_key = np.argsort(dup_keys, kind="stable")
    return dup_keys[by_key], np.asarray(reasons, dtype=object)[by_key]


def embeddable_rows(keys: pa.Table, plan: RowPlan) -> pa.Table:
    """id, key and content_hash of the rows that pass validation and are first with their id."""
    valid = keys.filter(pc.is_null(keys.column(REJECT)))
    row_key = row_keys(valid)
    first = np.ones(len(row_key), dtype=bool)
    if len(plan.duplicate_keys):
        first = ~np.isin(row_key, plan.duplicate_keys)
    return pa.table({"id": valid.column("id"), "key": row_key,
                     "content_hash": valid.column("content_hash")}).filter(pa.array(first))


def plan_rows(keys: pa.Table, file_names: list[str], carried: pa.Schema) -> RowPlan:
    """Plan from the pre-pass table (id, _file, _row, _reject per row read)."""
    rejected = pc.is_valid(keys.column(REJECT))
    valid = keys.filter(pc.invert(rejected))
    dup_keys, reasons = find_duplicates(valid.column("id").combine_chunks(), row_keys(valid),
                                        file_names)
    return RowPlan(read=keys.num_rows, rejected_on_read=int(pc.sum(rejected).as_py() or 0),
                   duplicate_keys=dup_keys, duplicate_reasons=reasons, carried=carried)


def plan_line(plan: RowPlan, files: int, seconds: float) -> str:
    """The planning pass in one line, before the embedding pass starts."""
    rejected = plan.rejected_on_read + len(plan.duplicate_keys)
    return (f"planned in {seconds:.1f}s: read {plan.read:,} rows from {files:,} file(s); "
            f"{plan.to_embed:,} to embed, {plan.skipped:,} unchanged, {rejected:,} rejected")
