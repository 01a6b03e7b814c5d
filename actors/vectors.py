"""Vector post-processing: Matryoshka truncation then L2 normalization."""

from __future__ import annotations

import numpy as np


def truncate(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    """Keep the first `dim` components of each row (Matryoshka truncation)."""
    if dim is None or dim >= vectors.shape[1]:
        return vectors
    if dim <= 0:
        raise ValueError(f"truncate_dim must be positive, got {dim}")
    return vectors[:, :dim]


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Scale each row to unit L2 norm, computed in float64 so float16 input stays exact."""
    wide = vectors.astype(np.float64, copy=False)
    norms = np.linalg.norm(wide, axis=1, keepdims=True)
    return wide / np.maximum(norms, eps)


def postprocess(vectors: np.ndarray, truncate_dim: int | None, dtype: str = "float32") -> np.ndarray:
    """Truncate, then normalize, then cast: normalizing first would leave non-unit vectors."""
    return l2_normalize(truncate(vectors, truncate_dim)).astype(dtype)
