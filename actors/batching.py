"""Token-budgeted micro-batching: sort by length, cap each batch by padded tokens."""

from __future__ import annotations

import numpy as np


def plan_micro_batches(lengths: np.ndarray, max_tokens: int, max_rows: int) -> list[np.ndarray]:
    """Split row indices, longest first, into batches whose padded size stays under budget.

    Padded size is rows * longest row, which is what the model actually computes on; sorting
    first keeps similar lengths together so little of that budget is spent on padding.
    """
    if max_tokens <= 0 or max_rows <= 0:
        raise ValueError("max_tokens and max_rows must be positive")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        rows = max(1, min(max_rows, max_tokens // longest))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def padding_ratio(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Fraction of computed token slots that are padding (0 = no waste)."""
    real = sum(int(np.sum(lengths[b])) for b in batches)
    padded = sum(len(b) * int(np.max(lengths[b])) for b in batches)
    return 0.0 if padded == 0 else 1.0 - real / padded
