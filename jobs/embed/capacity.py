"""How much of the cluster each embedder actor asks for, and whether the pool can start."""

from __future__ import annotations

import math
from dataclasses import dataclass

from storage.errors import UserError

# Read, prepare and write tasks mostly wait on I/O. The actor pool leaves IO_RESERVE_CPUS free
# and each such task asks for IO_TASK_CPUS. Each of the IO_STAGES stages is capped at its share
# of what the actors leave (ActorResources.io_tasks), so every stage can always be scheduled:
# a read task whose output waits downstream keeps its CPU share, and with one shared pool
# three such reads held all of it while the prepare and write tasks that would drain them
# waited for a CPU (a stall of 2 to 4 minutes with the CPUs idle, seen at 10M rows on 2 CPUs).
IO_RESERVE_CPUS = 0.25
IO_TASK_CPUS = 0.04
IO_STAGES = 3  # read, prepare, write
# The planning pass runs before any actor: its tasks hash and sort, so they ask for a real share
# (and a 2-CPU machine starts 4 worker processes for them, not 25).
PLAN_TASK_CPUS = 0.5


class CapacityError(UserError, RuntimeError):
    """The actor pool asks for more than the cluster has."""


@dataclass(frozen=True)
class ActorResources:
    """Resources per embedder actor and the torch threads it should run."""

    cpus: float
    gpus: float
    threads: int
    io_tasks: int = 1  # the most tasks each I/O stage runs at once, so all stages fit together


def actor_resources(cluster_cpus: float, cluster_gpus: float, min_actors: int, max_actors: int,
                    cpus_per_actor: float | None, gpus_per_actor: float | None) -> ActorResources:
    """Fill in unset values: GPUs when the cluster has them; on CPU, share the CPUs out."""
    gpus = gpus_per_actor if gpus_per_actor is not None else (1.0 if cluster_gpus > 0 else 0.0)
    if cpus_per_actor is None:
        if gpus > 0:
            cpus_per_actor = 1.0
        else:
            share = (cluster_cpus - IO_RESERVE_CPUS) / max_actors
            cpus_per_actor = max(0.1, math.floor(share * 20) / 20)  # 0.05 steps
    threads = max(1, round(cpus_per_actor)) if gpus == 0 else 1
    spare = cluster_cpus - max_actors * cpus_per_actor
    io_tasks = max(1, math.floor(spare / (IO_STAGES * IO_TASK_CPUS) + 1e-9))
    return ActorResources(cpus=cpus_per_actor, gpus=gpus, threads=threads, io_tasks=io_tasks)


def capacity_problem(cluster_cpus: float, cluster_gpus: float, min_actors: int,
                     resources: ActorResources) -> str | None:
    """Why `min_actors` actors plus the I/O tasks cannot all run now, or None if they can."""
    need_cpus = min_actors * resources.cpus + IO_RESERVE_CPUS
    if need_cpus > cluster_cpus + 1e-9:
        return (f"{min_actors} actor(s) x {resources.cpus:g} CPU + {IO_RESERVE_CPUS} CPU for reading "
                f"need {need_cpus:g} CPUs but the cluster has {cluster_cpus:g}; lower --actors "
                "or --cpus-per-actor")
    need_gpus = min_actors * resources.gpus
    if need_gpus > cluster_gpus + 1e-9:
        return (f"{min_actors} actor(s) x {resources.gpus:g} GPU need {need_gpus:g} GPUs but the "
                f"cluster has {cluster_gpus:g}; lower --actors or --gpus-per-actor")
    return None
