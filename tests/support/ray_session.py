"""The session's local Ray cluster: started by tests/conftest.py, restarted by tests that stop it."""

from __future__ import annotations

SESSION_CPUS = 4  # logical, on any machine: room for two actors and the run's I/O tasks


def start_session_ray() -> None:
    """Start this process's own local cluster (never one another process left in the address file)."""
    from jobs.ray_connect import connect_ray

    # "local", not None: ray.init() without an address joins the cluster named in
    # /tmp/ray/ray_current_cluster, which a parallel worker's multi-node test may have just written.
    connect_ray("local", num_cpus=SESSION_CPUS, include_dashboard=False)
