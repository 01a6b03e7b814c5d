"""What a query may ask: k in range, a non-empty text, a finite vector of the table's size."""

from __future__ import annotations

import numpy as np

from actors.query.defaults import MAX_K
from storage.errors import UserError


class QueryError(UserError, ValueError):
    """A query that cannot be answered as asked: bad k, empty text, wrong vector size, ..."""


class RowNotFoundError(QueryError):
    """A query names a row id the table does not have."""


def check_k(k) -> int:
    """k as an int in 1..MAX_K, or a QueryError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def check_text(text) -> str:
    """The query text, or a QueryError when it is empty or not a text."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("query text is empty")
    return text


def check_vector(query, dim: int, table: str) -> np.ndarray:
    """The query vector as a unit float32 array of the table's dim, or a QueryError."""
    try:
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise QueryError("a query is a text or a list of numbers") from None
    if vector.shape[0] != dim:
        raise QueryError(f"query vector has {vector.shape[0]} dimensions; table "
                         f"{table!r} has {dim}")
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        raise QueryError("query vector must be finite and not all zero")
    return vector / np.linalg.norm(vector)
