"""Run a step of the commit in a Ray task: the merge and the index builds read every row."""

from __future__ import annotations

from jobs.embed.capacity import IO_TASK_CPUS

# Tables from this many rows get their merge and index builds in a task; smaller ones in the
# driver, where the step takes less than starting a worker would.
ON_CLUSTER_ROWS = 100_000


def on_cluster(fn, *args):
    """fn(*args) in a task on the driver's node; its result, or its own exception re-raised.

    A merge_insert joins the table's ids, an index build reads every vector: in a task their
    memory is a worker's, so the driver's stays flat however large the table. The node is the
    driver's so the table's write lock (a file lock) means what it meant in the driver.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    task = ray.remote(fn).options(num_cpus=IO_TASK_CPUS, max_retries=0, scheduling_strategy=here)
    try:
        return ray.get(task.remote(*args))
    except ray.exceptions.RayTaskError as exc:
        if exc.cause is not None:  # the step's own error (a commit conflict, say), not Ray's wrapper
            raise exc.cause from None
        raise
