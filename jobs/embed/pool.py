"""The embedder actor pool of one run: joining Ray, sizing the pool, its stage, and its release."""

from __future__ import annotations

import logging
import re
import time
import warnings

from actors.config import EncoderOptions
from actors.embedder import Embedder
from jobs.config import EmbedConfig
from jobs.embed.capacity import ActorResources, CapacityError, actor_resources, capacity_problem
from jobs.ray_connect import connect_ray
from jobs.ray_internals import (
    kill_actor,
    live_actor_ids,
    runs_cluster_head,
    size_data_limits_by_cluster,
)

log = logging.getLogger("embedfleet")
ACTOR_RESTARTS = 4  # per embedder actor, before its death fails the run
RELEASE_WAIT_S = 120  # for resources held by other work (a run just ended) to come back


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
    killed = live_actor_ids(f"({cls.__name__})")
    for actor_id in killed:
        kill_actor(actor_id)
    if killed:
        log.info("released %d embedder actor(s) of %s", len(killed), cls.__name__)
    return len(killed)


def encoder_options(config: EmbedConfig, resources: ActorResources) -> EncoderOptions:
    """What each embedder actor builds its encoder with: the run's model, batching, its threads."""
    compute = config.compute
    return EncoderOptions(model=config.model, max_batch_tokens=compute.max_batch_tokens,
                          max_batch_rows=compute.batch_size, threads=resources.threads)


def add_embed_stage(ds, embedder: type, config: EmbedConfig, resources: ActorResources,
                    progress=None):
    """The dataset with the embedding stage: an actor pool of `embedder`, each holding one model."""
    import ray

    compute = config.compute
    options = encoder_options(config, resources)
    with warnings.catch_warnings():
        # Ray 2.60 has no named parameter for actor restarts: they go through **ray_remote_args,
        # which warns that it is removed in 2.64. This is the one place that passes them.
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated",
                                category=DeprecationWarning)
        return ds.map_batches(
            embedder, batch_format="pyarrow", batch_size=compute.batch_size,
            compute=ray.data.ActorPoolStrategy(min_size=compute.min_actors, max_size=compute.max_actors),
            fn_constructor_kwargs={"options": options, "progress": progress},
            num_gpus=resources.gpus, num_cpus=resources.cpus,
            # A killed actor (or one on a lost node) restarts and its batches rerun, retried while
            # it is away. Ray Data's default restarts it forever, which hangs the run on a batch
            # that crashes its process every time: bound the restarts instead of the retries.
            max_restarts=ACTOR_RESTARTS, max_task_retries=-1)




def ensure_ray(address: str | None = None) -> bool:
    """Connect to the given cluster, the one this process was submitted to, or start a local one.

    Returns True when this process runs the cluster's head itself (a local cluster that
    cannot grow), False when it joined a cluster that may autoscale.
    """
    connect_ray(address)
    size_data_limits_by_cluster()
    return runs_cluster_head()


def plan_resources(config: EmbedConfig, local: bool) -> ActorResources:
    """Per-actor resources; a pool that cannot start is an error on a cluster that cannot grow."""
    import ray

    c = config.compute
    total = ray.cluster_resources()
    has_gpus = total.get("GPU", 0.0) > 0
    gpus_per_actor = c.gpus_per_actor if c.gpus_per_actor is not None else float(has_gpus)

    def sized(resources: dict) -> tuple[ActorResources, str | None]:
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        pool = actor_resources(cpus, gpus, c.min_actors, c.max_actors, c.cpus_per_actor,
                               gpus_per_actor)
        return pool, capacity_problem(cpus, gpus, c.min_actors, pool)

    resources, problem = sized(total)
    if problem:
        if local:
            raise CapacityError(problem)  # more than the whole cluster: waiting cannot help
        log.warning("%s; waiting for the autoscaler to add nodes", problem)
        return resources
    # Size the pool from what is free now (a query actor or another job may hold some of the
    # cluster). What a run that just ended held comes back when its actors' processes exit,
    # which on a loaded machine can take a while: wait for it rather than fail.
    # An autoscaling cluster adds nodes for a pending pool by itself: wait less there.
    wait_s = RELEASE_WAIT_S if local else 15
    deadline = time.monotonic() + wait_s
    logged = False
    while True:
        free = ray.available_resources()
        resources, problem = sized(free)
        if problem is None or time.monotonic() > deadline:
            break
        if not logged:
            log.info("waiting up to %ds for resources other work holds: %s", wait_s, problem)
            logged = True
        time.sleep(0.5)
    if problem and local:
        raise CapacityError(f"after {wait_s}s only {free.get('CPU', 0.0):g} of "
                            f"{total.get('CPU', 0.0):g} CPUs are free (other runs or actors hold "
                            f"the rest): {problem}")
    if problem:
        log.warning("%s; waiting for the autoscaler to add nodes", problem)
    return resources
