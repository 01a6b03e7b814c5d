"""UMAP imported with its numba kernels cached on disk, so each process does not compile them again.

umap-learn compiles its kernels without numba's `cache=True`: every new process (a query actor,
a Serve replica, a CLI `project`) spent about 5 s of CPU compiling them before its first map on a
2-core machine. Cached, they are compiled once per machine (beside the package, or in
NUMBA_CACHE_DIR; numba keys them by CPU and argument types) and later processes load them in
a fraction of a second.
"""

from __future__ import annotations

import importlib
import threading

# The kernels a fit with a precomputed neighbour graph calls from Python. Only these: caching
# their callees as well made the first compile 4x slower (20 s against 5 s), as numba then
# builds each callee as a library of its own instead of compiling it into its caller.
ENTRY_KERNELS = (
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"),
)
_lock = threading.Lock()
_cached = False


def cached_umap():
    """The umap module, its entry kernels' on-disk cache switched on (once per process)."""
    global _cached
    import umap

    with _lock:
        if not _cached:
            for kernel in entry_kernels():
                kernel.enable_caching()
            _cached = True
    return umap


def entry_kernels() -> list:
    """The installed umap-learn's entry kernels; one a release renamed is left uncached."""
    found = (getattr(importlib.import_module(module), name, None) for module, name in ENTRY_KERNELS)
    return [kernel for kernel in found if hasattr(kernel, "enable_caching")]
