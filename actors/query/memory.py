"""A table's current vectors held in memory for exact search, refreshed fragment by fragment.

LanceDB's flat search reads and decodes the whole vector column on every query (about 30x the
cost of the matrix product itself); holding the vectors once turns an exact query into one
BLAS product. A new version reuses every fragment whose key is unchanged and reads only new
or changed ones (an append reads only its own rows; a deletion or an update reloads the
fragments it touched). Tables over the memory budget are left to LanceDB.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from actors.query.exact import Snapshot, make_block
from storage.fragments import (
    ann_candidates,
    fragment_keys,
    matching_row_ids,
    read_fragment,
    take_rows_for_each,
)

if TYPE_CHECKING:
    import lance

ROW_ID_BYTES = 8


@dataclass(frozen=True)
class Found:
    """One query's top rows from memory: the rows (requested columns) and their cosines."""

    rows: pa.Table
    scores: np.ndarray


def bytes_needed(rows: int, dim: int) -> int:
    """Memory the vectors of `rows` rows take here: float32 values and a row id each."""
    return rows * (dim * 4 + ROW_ID_BYTES)


class MemoryVectors:
    """The `vector` column of one table's current version, in memory, under a byte budget."""

    def __init__(self, budget_bytes: int, column: str = "vector"):
        self.budget, self.column = budget_bytes, column
        self.fragments_read = 0  # fragments read since start: an append reads only its own
        self._state: tuple[lance.LanceDataset, Snapshot] | None = None
        self._lock = threading.Lock()  # one refresh at a time; searches use a finished snapshot

    @property
    def nbytes(self) -> int:
        """Memory held now."""
        state = self._state
        return state[1].nbytes if state else 0

    def fits(self, rows: int, dim: int) -> bool:
        """True if a table of this size is held in memory."""
        return bytes_needed(rows, dim) <= self.budget

    def current(self, dataset: lance.LanceDataset) -> tuple[lance.LanceDataset, Snapshot] | None:
        """The dataset and snapshot of the dataset's version, refreshed if it moved on; None over budget."""
        state = self._state
        if state is not None and state[1].version == dataset.version:
            return state
        with self._lock:
            state = self._state
            if state is not None and state[1].version == dataset.version:
                return state
            dim = dataset.schema.field(self.column).type.list_size
            if not self.fits(dataset.count_rows(), dim):
                self._state = None  # free the old version's vectors as well
                return None
            kept = {b.key: b for b in state[1].blocks} if state else {}
            blocks = [kept.get(key) or self._read(dataset, key) for key in fragment_keys(dataset)]
            self._state = (dataset, Snapshot(dataset.version, blocks))
            return self._state

    def _read(self, dataset: lance.LanceDataset, key: tuple):
        row_ids, vectors = read_fragment(dataset, key[0], self.column)
        self.fragments_read += 1
        return make_block(key, row_ids, vectors)


def search_memory(state: tuple[lance.LanceDataset, Snapshot], queries: np.ndarray, k: int,
                  where: str | None, columns: list[str]) -> list[Found]:
    """Exact top-k per query among the rows that satisfy `where`, with the requested columns."""
    dataset, snapshot = state
    # The filter runs first, in Lance (it reads only the filter's columns); the ranking then
    # sees only the rows that satisfy it, as LanceDB's prefilter does.
    allowed = snapshot.positions_of(matching_row_ids(dataset, where)) if where else None
    found = snapshot.search(queries, k, allowed)
    rows = take_rows_for_each(dataset, [ids for ids, _ in found], columns)
    return [Found(r, scores) for r, (_, scores) in zip(rows, found, strict=True)]


def refine_memory(state: tuple[lance.LanceDataset, Snapshot], queries: np.ndarray, k: int,
                  where: str | None, columns: list[str], nprobes: int, refine: int) -> list[Found]:
    """ANN search whose k * refine candidates are re-scored exactly from memory.

    What LanceDB's refine_factor does, without reading the candidates' vectors from disk (that
    read is about half of an indexed query's time at 1M rows).
    """
    dataset, snapshot = state
    found = []
    for query in np.atleast_2d(queries):
        candidates = ann_candidates(dataset, query, k * refine, nprobes, where)
        found.append(snapshot.rescore(query, snapshot.positions_of(candidates), k))
    rows = take_rows_for_each(dataset, [ids for ids, _ in found], columns)
    return [Found(r, scores) for r, (_, scores) in zip(rows, found, strict=True)]
