"""Joining Ray, or starting a local cluster whose worker processes stay warm between runs."""

from __future__ import annotations

import logging
import os

# Ray keeps at most one idle worker per CPU and kills the rest a second after they go idle.
# A run's read, prepare and write tasks ask for fractions of a CPU, so they start more workers
# than that, and the next pass (or the next run) would start them again, each paying a second
# or more of CPU to import Ray Data and pyarrow. Kept workers cost about 150 MB each.
WARM_WORKERS = 12
SOFT_LIMIT_ENV = "RAY_num_workers_soft_limit"


def keep_workers_warm(cpus: int | None = None) -> None:
    """Raise the idle-worker limit of a local cluster this process is about to start."""
    floor = max(WARM_WORKERS, cpus or os.cpu_count() or 1)
    os.environ.setdefault(SOFT_LIMIT_ENV, str(floor))  # the user's own setting wins


def connect_ray(address: str | None = None, **init_args) -> None:
    """Join the Ray cluster at `address` (or a running local one, else start one), once."""
    import ray

    if ray.is_initialized():
        return
    if address in (None, "local"):  # a cluster started here reads the limit from its env
        keep_workers_warm(init_args.get("num_cpus"))
    ray.init(address=address, logging_level=logging.WARNING, **init_args)
