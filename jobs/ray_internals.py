"""The few private Ray APIs this project needs, in one place, each with the public fallback.

Ray moves its private modules between releases; when one goes, only this file changes.
"""

from __future__ import annotations

import os


def runs_cluster_head() -> bool:
    """True when this process started the local cluster's head itself (a cluster that cannot grow)."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    return bool(node is not None and node.head)


def live_actor_ids(class_marker: str) -> list[str]:
    """Ids of this driver's actors not dead (yet) whose class name contains the marker."""
    import ray
    from ray._private import state

    job = ray.get_runtime_context().get_job_id()
    return [actor_id for actor_id, info in state.actors().items()
            if info.get("JobID") == job and info.get("State") != "DEAD"
            and class_marker in info.get("ActorClassName", "")]


def kill_actor(actor_id: str) -> None:
    """Kill an actor by its hex id, without restarting it (Ray has no public kill-by-id)."""
    import ray

    worker = ray._private.worker.global_worker
    worker.core_worker.kill_actor(ray.ActorID.from_hex(actor_id), True)


def use_local_auth_token() -> None:
    """Send the local cluster's auth token, if there is one, as `ray.init()` does locally."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token auth: nothing to send
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def size_data_limits_by_cluster() -> None:
    """Make Ray Data budget a run by the cluster's resources, not by its rate-based reservations.

    Ray 2.60's default cluster autoscaler for Ray Data (RATE_BASED) caps a dataset at what it
    reserved, about one task per operator, and grows that only with measured rates. On a
    cluster the actor pool fills, the write stage, its queue backing up, then got no CPU
    budget while the prepare tasks that filled the queue held theirs: the pass stopped with
    the CPUs idle (10M rows on 2 CPUs). V2 budgets by the cluster. The variable is Ray Data's
    own switch; one set by the user wins.
    """
    os.environ.setdefault("RAY_DATA_CLUSTER_AUTOSCALER", "V2")
