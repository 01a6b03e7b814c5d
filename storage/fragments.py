"""Lance glue for reading a table version fragment by fragment: vectors, filter matches, rows by id.

A fragment's key changes whenever its rows can have changed (new data files, a new deletion
file), so a reader holding fragments of an older version reloads only the ones that moved on.
"""

from __future__ import annotations

from itertools import pairwise

import lance
import numpy as np
import pyarrow as pa


def fragment_keys(dataset: lance.LanceDataset) -> list[tuple]:
    """One key per fragment of the version, in fragment order: (id, data files, deletion file)."""
    keys = []
    for fragment in dataset.get_fragments():
        meta = fragment.metadata
        deletion = meta.deletion_file
        deleted = None if deletion is None else (deletion.id, deletion.read_version,
                                                 deletion.num_deleted_rows)
        keys.append((meta.id, tuple(f.path for f in meta.files), meta.physical_rows, deleted))
    return keys


def read_fragment(dataset: lance.LanceDataset, fragment_id: int,
                  column: str = "vector") -> tuple[np.ndarray, np.ndarray]:
    """The row ids and vectors (float32 matrix) of one fragment's live rows."""
    data = dataset.get_fragment(fragment_id).to_table(columns=[column], with_row_id=True)
    dim = data.schema.field(column).type.list_size
    values = data.column(column).combine_chunks()
    # A null vector would shift every later row of the flattened values; the schema forbids
    # them, but a null stays a zero row (no direction, never a match) rather than a crash.
    if values.null_count:
        values = _zero_nulls(values, dim)
    matrix = np.asarray(values.flatten(), dtype=np.float32).reshape(data.num_rows, dim)
    return data.column("_rowid").to_numpy().astype(np.uint64), matrix


def _zero_nulls(values: pa.FixedSizeListArray, dim: int) -> pa.FixedSizeListArray:
    rows = [v if v is not None else [0.0] * dim for v in values.to_pylist()]
    return pa.array(rows, type=values.type)


def matching_row_ids(dataset: lance.LanceDataset, where: str) -> np.ndarray:
    """Row ids of the version's live rows that satisfy an SQL filter (reads the filter's columns)."""
    data = dataset.to_table(columns=[], filter=where, with_row_id=True)
    return data.column("_rowid").to_numpy().astype(np.uint64)


def take_rows(dataset: lance.LanceDataset, row_ids: np.ndarray, columns: list[str]) -> pa.Table:
    """The given rows (by row id, in that order) with the given columns."""
    if len(row_ids) == 0:
        return dataset.schema.empty_table().select(columns)
    # Lance marks _take_rows unstable; it is the one call that fetches rows by id without a
    # scan, and row ids come from this same version, so they always resolve.
    return dataset._take_rows(pa.array(row_ids, type=pa.uint64()), columns=columns)


def take_rows_for_each(dataset: lance.LanceDataset, id_lists: list[np.ndarray], columns: list[str]
                       ) -> list[pa.Table]:
    """take_rows for several lists of row ids (one per query) with one read of their union."""
    if len(id_lists) <= 1:
        return [take_rows(dataset, ids, columns) for ids in id_lists]
    # One take, not one per query: each take has a fixed cost (a plan, a read per fragment)
    # that is most of a batch's row fetching on small tables.
    every = np.concatenate([np.asarray(ids, dtype=np.uint64) for ids in id_lists])
    unique, where = np.unique(every, return_inverse=True)
    rows = take_rows(dataset, unique, columns)
    bounds = np.cumsum([0] + [len(ids) for ids in id_lists])
    return [rows.take(pa.array(where[a:b], type=pa.int64())) for a, b in pairwise(bounds)]


def ann_candidates(dataset: lance.LanceDataset, vector: np.ndarray, limit: int, nprobes: int,
                   where: str | None) -> np.ndarray:
    """Row ids of the ANN index's `limit` nearest (cosine, PQ order, no refine), filtered first."""
    data = dataset.to_table(columns=[], with_row_id=True, filter=where, prefilter=bool(where),
                            nearest={"column": "vector", "q": vector, "k": limit,
                                     "nprobes": nprobes, "metric": "cosine"})
    return data.column("_rowid").to_numpy().astype(np.uint64)
