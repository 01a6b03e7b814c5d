"""Exact cosine top-k over vectors held in memory, in blocks (one per table fragment): pure numpy.

Scores are true cosines (rows and queries divided by their norms, as LanceDB's cosine
distance does), computed in float32 by one BLAS matrix product per block. Ties are broken by
position (fragment order, then row order), so a ranking is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Queries scored per matrix product in a batch: bounds the (rows x queries) score matrix.
QUERIES_PER_PRODUCT = 32


@dataclass(frozen=True)
class Block:
    """The vectors of one fragment: its state key, row ids, unit rows, in row order."""

    key: tuple
    row_ids: np.ndarray
    vectors: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory the block holds."""
        return self.row_ids.nbytes + self.vectors.nbytes


def make_block(key: tuple, row_ids: np.ndarray, vectors: np.ndarray) -> Block:
    """A block with its rows scaled to unit length once, so a product gives cosines."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A zero vector scores 0 against every query, as LanceDB's cosine gives it no direction.
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return Block(key, np.asarray(row_ids, dtype=np.uint64), np.ascontiguousarray(unit))


class Snapshot:
    """The blocks of one table version, searched together; never changed once built."""

    def __init__(self, version: int, blocks: list[Block]):
        self.version, self.blocks = version, blocks
        self.row_ids = (np.concatenate([b.row_ids for b in blocks]) if blocks
                        else np.zeros(0, dtype=np.uint64))
        # Row ids ascend with fragment order for plain Lance tables; sort only if they do not.
        ascending = bool(np.all(self.row_ids[1:] > self.row_ids[:-1]))
        self._order = None if ascending else np.argsort(self.row_ids, kind="stable")
        self._sorted = self.row_ids if ascending else self.row_ids[self._order]

    @property
    def rows(self) -> int:
        """Rows held."""
        return len(self.row_ids)

    @property
    def nbytes(self) -> int:
        """Memory the blocks hold."""
        return sum(b.nbytes for b in self.blocks)

    def positions_of(self, row_ids) -> np.ndarray:
        """Sorted positions of the given row ids (ids not held are left out)."""
        found = _found(self._sorted, np.asarray(row_ids, dtype=np.uint64))
        positions = found if self._order is None else self._order[found]
        return np.sort(positions)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Cosines of every row with each query: shape (rows, queries)."""
        q = _unit(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if not self.blocks:
            return np.zeros((0, len(q)), dtype=np.float32)
        if len(q) == 1:  # a matrix-vector product: BLAS gemv, no transposed copy
            return np.concatenate([b.vectors @ q[0] for b in self.blocks])[:, None]
        return np.concatenate([b.vectors @ q.T for b in self.blocks])

    def rescore(self, query: np.ndarray, positions: np.ndarray, k: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """Row ids and cosines of the k best of a few candidate positions (sorted), best first."""
        q = _unit(np.atleast_2d(np.asarray(query, dtype=np.float32)))[0]
        starts = np.cumsum([0] + [len(b.row_ids) for b in self.blocks])
        which = np.searchsorted(starts, positions, side="right") - 1
        scores = np.empty(len(positions), dtype=np.float32)
        for b in np.unique(which):  # only the blocks holding candidates, one product each
            at = which == b
            scores[at] = self.blocks[b].vectors[positions[at] - starts[b]] @ q
        picked = top_k(scores, k) if len(scores) else np.zeros(0, dtype=np.int64)
        return self.row_ids[positions[picked]], scores[picked].astype(np.float64)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query: the row ids and cosines of its top k, best first (among `allowed` positions)."""
        queries = np.atleast_2d(queries)
        out = []
        for start in range(0, len(queries), QUERIES_PER_PRODUCT):
            scores = self.scores(queries[start:start + QUERIES_PER_PRODUCT])
            for column in scores.T:
                picked = top_k(column, k, allowed)
                out.append((self.row_ids[picked], column[picked].astype(np.float64)))
        return out


def top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Positions of the k highest scores, best first, ties by position; only `allowed` ones if given.

    `allowed` holds sorted positions, so breaking ties by it breaks them by position too.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    pool = scores if allowed is None else scores[allowed]
    n = len(pool)
    k = min(k, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        # Every score equal to the k-th best stays a candidate, so ties resolve by position
        # exactly as a full sort would, at the cost of one partition.
        kth = np.partition(pool, n - k)[n - k]
        candidates = np.flatnonzero(pool >= kth)
    else:
        candidates = np.arange(n)
    best = candidates[np.lexsort((candidates, -pool[candidates]))[:k]]
    return best if allowed is None else allowed[best]


def _found(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    at = np.searchsorted(sorted_ids, wanted)
    inside = at < len(sorted_ids)
    at, wanted = at[inside], wanted[inside]
    return at[sorted_ids[at] == wanted]


def _unit(q: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    return np.divide(q, norms, out=np.zeros_like(q), where=norms > 0)
