"""Token-budgeted micro-batching: sort by length, cap each batch by padded tokens."""

from __future__ import annotations

import numpy as np

# Padded tokens per model call when none is set. On a CPU small calls keep a layer's
# activations and attention scores in cache: with MiniLM on 2 cores (docs/BENCHMARKS.md) 2k-token
# calls ran SciFact documents ~25% faster than 16k-token calls or encode's 32 rows (~7.5k
# tokens). A GPU wants big calls to fill its SMs.
CPU_BATCH_TOKENS = 2048
GPU_BATCH_TOKENS = 16384


def default_batch_tokens(device: str) -> int:
    """Padded tokens per model call for a device when the run does not set it."""
    return GPU_BATCH_TOKENS if device.startswith("cuda") else CPU_BATCH_TOKENS


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
