"""The embedder actor pool of one run: a class named for the run, and its release when it ends."""

from __future__ import annotations

import logging
import re

from actors.embedder import Embedder

log = logging.getLogger("embedfleet")


def pool_class(run_id: str) -> type:
    """An Embedder subclass named for this run, so the run's actors can be told from others'."""
    name = "Embedder_" + re.sub(r"\W", "_", run_id)
    return type(name, (Embedder,), {"__qualname__": name, "__module__": __name__,
                                    "__doc__": Embedder.__doc__})


def release_pool(cls: type) -> int:
    """Kill this driver's live actors of the run's pool class; returns how many.

    Ray Data drops its actor handles when a pass ends and lets reference counting stop the
    actors, but a handle still reachable from anywhere in the driver (a traceback kept by a
    caller, a pending cycle) keeps an actor and its CPUs or GPUs held: the next run, or a
    scheduled loop's next pass, then finds the cluster full. Killing them makes the release
    certain; the pass is over, so no output of theirs is needed again.
    """
    import ray

    worker = ray._private.worker.global_worker
    killed = live_actors(f"({cls.__name__})")
    for actor_id in killed:
        worker.core_worker.kill_actor(ray.ActorID.from_hex(actor_id), True)
    if killed:
        log.info("released %d embedder actor(s) of %s", len(killed), cls.__name__)
    return len(killed)


def live_actors(class_marker: str) -> list[str]:
    """Ids of this driver's actors not dead (yet) whose class name contains the marker."""
    import ray
    from ray._private import state

    job = ray.get_runtime_context().get_job_id()
    return [actor_id for actor_id, info in state.actors().items()
            if info.get("JobID") == job and info.get("State") != "DEAD"
            and class_marker in info.get("ActorClassName", "")]
