"""Joining Ray: the one place the job, the service and the benchmarks connect or start it."""

from __future__ import annotations

import logging


def connect_ray(address: str | None = None, **init_args) -> None:
    """Join the Ray cluster at `address` (or a running local one, else start one), once."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING, **init_args)
