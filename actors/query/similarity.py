"""Exact cosine similarity on unit vectors, in numpy: the reference every index is checked against."""

from __future__ import annotations

import numpy as np


def cosine_top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine scores of the k rows of `matrix` closest to `query`, best first.

    Rows and query are L2-normalized here, so stored vectors of any norm give true cosines.
    Ties are broken by row index, so the ranking is deterministic.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    rows = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    q = query / max(float(np.linalg.norm(query)), 1e-12)
    scores = rows.astype(np.float64) @ q.astype(np.float64)
    k = min(k, len(scores))
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    return order, scores[order]
