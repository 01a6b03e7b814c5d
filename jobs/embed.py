"""The embed job: read -> validate -> plan -> embed on an actor pool -> one atomic commit.

Run it as `embedfleet embed ...` or, on a cluster, as
`ray job submit --working-dir . -- python -m jobs.embed ...` (same arguments).
"""

from __future__ import annotations

import gc
import logging
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from jobs.capacity import (
    IO_TASK_CPUS,
    ActorResources,
    CapacityError,
    actor_resources,
    capacity_problem,
)
from jobs.changes import ChangeError, ChangeSet, diff_rows, id_filter
from jobs.config import EmbedConfig
from jobs.errors import EmbedPassError, RunError, root_cause
from jobs.modes import check_mode, provenance_for
from jobs.plan import RowPlan, embeddable_rows, plan_rows
from jobs.rows import config_fingerprint, unify_schemas
from jobs.sources import SourceFile, check_sources, resolve_sources
from jobs.stages import SCHEMA_COLUMN, extract_keys, prepare_rows
from jobs.summary import RunSummary
from storage.commit import commit_rejects, commit_table
from storage.db import dataset_or_none, table_uri
from storage.index import refresh_index
from storage.names import companion, staging, validate_table_name
from storage.runs import record_run
from storage.schema import table_schema, vector_type
from storage.sink import RunSink, WriteReport
from storage.upsert import remove_dataset, upsert_staged

log = logging.getLogger("embedfleet")
ACTOR_RESTARTS = 4  # per embedder actor, before its death fails the run
RELEASE_WAIT_S = 120  # for resources held by other work (a run just ended) to come back


def ensure_ray(address: str | None = None) -> bool:
    """Connect to the given cluster, the one this process was submitted to, or start a local one.

    Returns True when this process runs the cluster's head itself (a local cluster that
    cannot grow), False when it joined a cluster that may autoscale.
    """
    import ray

    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING)
    node = getattr(ray._private.worker, "_global_node", None)
    return bool(node is not None and node.head)


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


def plan_run(ds, sources: list[SourceFile], existing: pa.Schema | None,
             fingerprint: str | None = None) -> tuple[RowPlan, pa.Table]:
    """Planning pass over every row: counts, duplicate ids, the carried columns' types.

    Returns the plan and the per-row keys (with content hashes when given a fingerprint).
    """
    import ray

    parts = ray.get(ds.map_batches(extract_keys, batch_format="pyarrow", batch_size=None,
                                   num_cpus=IO_TASK_CPUS,
                                   fn_kwargs={"fingerprint": fingerprint}).to_arrow_refs())
    parts = [p for p in parts if p.num_rows]
    keys = pa.concat_tables(parts) if parts else pa.table(
        {"id": pa.array([], pa.string()), "_file": pa.array([], pa.int32()),
         "_row": pa.array([], pa.int64()), "_reject": pa.array([], pa.string())})
    schemas = [pa.ipc.read_schema(pa.py_buffer(s)) for s in
               keys.column(SCHEMA_COLUMN).drop_null().to_pylist()] if parts else []
    carried = unify_schemas(schemas)
    if existing is not None:
        carried = _carried_for_append(carried, existing)
    return plan_rows(keys, [s.path for s in sources], carried), keys


def plan_changes(config: EmbedConfig, keys: pa.Table, plan: RowPlan, read_version: int) -> ChangeSet:
    """Compare the source with the table at read_version: unchanged, updated, new, gone."""
    table = dataset_or_none(config.db, config.table, read_version).to_table(
        columns=["id", "content_hash"])
    try:
        return diff_rows(embeddable_rows(keys, plan), table, keys.column("id"),
                         config.delete_missing)
    except ChangeError as exc:
        raise RunError(str(exc)) from exc


def _carried_for_append(carried: pa.Schema, existing: pa.Schema) -> pa.Schema:
    table_carried = pa.schema([f for f in existing if f.name not in
                               ("id", "text", "vector", "vector_full", "content_hash",
                                "embedded_at")])
    extra = [n for n in carried.names if n not in table_carried.names]
    if extra:
        raise RunError(f"source columns {', '.join(extra)} are not in the table; "
                       "use --mode rebuild to change the table's columns")
    return table_carried


def run_embed(config: EmbedConfig) -> RunSummary:
    """Run one embed job end to end and return its summary (also recorded in the runs table)."""
    import ray

    from jobs.corpus_datasource import CorpusDatasource

    validate_table_name(config.table)
    started = datetime.now(UTC)
    run_id = config.run_id or f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    sources = resolve_sources(config.source.paths, config.source.format)
    check_sources(sources, config.source.id_column, config.source.text_column)
    mode, read_version, existing = check_mode(config)
    summary = RunSummary(table=config.table, run_id=run_id, mode=mode)
    incremental = mode == "incremental"
    fingerprint = config_fingerprint(config.model)
    local = ensure_ray(config.ray_address)
    resources = plan_resources(config, local)
    # An incremental run's rows go to a private staging dataset, upserted in one commit.
    staged = table_uri(config.db, staging(config.table, run_id)) if incremental else None
    clock = time.perf_counter()  # the run's time, not the cluster's start-up
    try:
        datasource = CorpusDatasource(sources, config.source.id_column, config.source.text_column)
        plan, keys = plan_run(ray.data.read_datasource(datasource, num_cpus=IO_TASK_CPUS), sources,
                              existing if mode in ("append", "incremental") else None,
                              fingerprint if incremental else None)
        summary.read = plan.read
        if plan.read == 0:
            raise RunError(f"empty corpus: no rows in {', '.join(config.source.paths)}")
        changes = plan_changes(config, keys, plan, read_version) if incremental else None
        if changes is not None:
            plan = replace(plan, skip_keys=changes.skip_keys)
            summary.skipped_unchanged = plan.skipped
        del keys
        sink = RunSink(staged or table_uri(config.db, config.table),
                       table_uri(config.db, companion(config.table, "rejects")), plan.carried,
                       run_id, np.datetime64(started.replace(tzinfo=None), "us"),
                       [s.path for s in sources], config.compute.write_batch_rows,
                       "create" if incremental else mode)
        report = _embed_pass(config, datasource, plan, sink, resources, fingerprint, run_id)
        summary.embedded, summary.rejected = report.embedded, report.rejected
        summary.tokens, summary.actors = report.tokens, report.actors
        if not summary.balanced():
            raise RunError(f"rows do not add up: read {summary.read} but embedded "
                           f"{summary.embedded} + skipped {summary.skipped_unchanged} + rejected "
                           f"{summary.rejected}; the source changed during the run? nothing was "
                           "committed")
        if incremental:
            _upsert(config, plan, report, read_version, existing, changes, staged, summary)
        else:
            summary.version = _commit(config, mode, plan, report, read_version)
            summary.inserted = summary.embedded
        commit_rejects(table_uri(config.db, companion(config.table, "rejects")),
                       report.reject_fragments)
        if summary.version is None:
            raise RunError(f"no row could be embedded ({report.rejected} rejected; see "
                           f"{companion(config.table, 'rejects')}); table {config.table!r} "
                           "unchanged")
        if summary.version != read_version:
            summary.index = refresh_index(config.db, config.table, config.index_threshold,
                                          config.index_type)
    except Exception as exc:
        summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
        summary.seconds = time.perf_counter() - clock
        _record(config, summary, started)
        raise
    finally:
        if staged is not None:
            remove_dataset(staged)
    summary.seconds = time.perf_counter() - clock
    _record(config, summary, started)
    return summary


def _embed_pass(config: EmbedConfig, datasource, plan: RowPlan, sink: RunSink,
                resources: ActorResources, fingerprint: str, run_id: str) -> WriteReport:
    """Second pass: prepare rows, embed them on the actor pool, write uncommitted fragments."""
    import ray

    from jobs.pool import pool_class, release_pool

    if plan.read == plan.skipped:
        return WriteReport()  # every row is in the table unchanged: nothing to read again
    compute = config.compute
    embedder = pool_class(run_id)
    ds = (ray.data.read_datasource(datasource, num_cpus=IO_TASK_CPUS)
          .map_batches(prepare_rows, batch_format="pyarrow", batch_size=None, num_cpus=IO_TASK_CPUS,
                       fn_kwargs={"plan": plan, "fingerprint": fingerprint}))
    if plan.to_embed > 0:  # only rejects left: no model needs to load to record them
        ds = ds.map_batches(embedder, batch_format="pyarrow", batch_size=compute.batch_size,
                            compute=ray.data.ActorPoolStrategy(min_size=compute.min_actors,
                                                               max_size=compute.max_actors),
                            fn_constructor_kwargs={"model": config.model,
                                                   "max_batch_tokens": compute.max_batch_tokens,
                                                   "max_batch_rows": compute.batch_size,
                                                   "threads": resources.threads},
                            num_gpus=resources.gpus, num_cpus=resources.cpus,
                            # A killed actor (or one on a lost node) restarts and its batches
                            # rerun, retried while it is away. Ray Data's default restarts it
                            # forever, which hangs the run on a batch that crashes its process
                            # every time: bound the restarts instead of the retries.
                            max_restarts=ACTOR_RESTARTS, max_task_retries=-1)
    failure = None
    try:
        ds.write_datasink(sink, ray_remote_args={"num_cpus": IO_TASK_CPUS})
    except Exception as exc:  # noqa: BLE001 - re-raised below without Ray's frames
        failure = root_cause(exc)
        log.error("embedding pass failed: %s", failure)
        if failure.startswith(("ActorUnavailableError", "ActorDiedError")):
            failure = (f"an embedder actor died and was not restarted (each restarts at most "
                       f"{ACTOR_RESTARTS} times: a batch that crashes its process every time, "
                       f"or out of memory?): {failure}")
    release_pool(embedder)
    if failure is not None:
        # Ray Data's error keeps the executor alive through traceback frames: drop it and
        # raise a plain error.
        del ds
        gc.collect()
        raise EmbedPassError(failure)
    return sink.report


def _schema(config: EmbedConfig, plan: RowPlan, report: WriteReport) -> pa.Schema:
    provenance = provenance_for(config, report.dim, report.native_dim)
    full = vector_type(report.native_dim, config.model.dtype) if config.model.keep_full else None
    return table_schema(plan.carried, vector_type(report.dim, config.model.dtype), provenance, full)


def _commit(config: EmbedConfig, mode: str, plan: RowPlan, report: WriteReport,
            read_version: int | None) -> int | None:
    if not report.fragments:
        return read_version if mode == "append" else None
    return commit_table(table_uri(config.db, config.table), report.fragments,
                        _schema(config, plan, report), "overwrite" if mode == "rebuild" else mode,
                        read_version)


def _upsert(config: EmbedConfig, plan: RowPlan, report: WriteReport, read_version: int,
            existing: pa.Schema, changes: ChangeSet, staged: str, summary: RunSummary) -> None:
    """Commit an incremental run: one merge_insert of the changed rows (and deletes), or nothing."""
    table_dim = existing.field("vector").type.list_size
    if report.fragments and report.dim != table_dim:
        raise RunError(f"the model now gives {report.dim}-dim vectors but table "
                       f"{config.table!r} holds {table_dim}-dim ones; use --mode rebuild")
    deletes = id_filter(changes.missing_ids) if changes.missing_ids else None
    result = upsert_staged(config.db, config.table, staged, report.fragments, existing, deletes,
                           read_version)
    summary.version = result.version
    summary.updated, summary.inserted, summary.deleted = (result.updated, result.inserted,
                                                          result.deleted)


def _record(config: EmbedConfig, summary: RunSummary, started: datetime) -> None:
    try:
        record_run(config.db, config.table, summary.to_dict(), started, datetime.now(UTC))
    except Exception:  # noqa: BLE001 - a failed history write must not hide the run's outcome
        log.exception("could not record run %s", summary.run_id)


def main(argv: list[str] | None = None) -> int:
    """`python -m jobs.embed ...`: the embed command without the rest of the CLI."""
    from jobs.cli import main as cli_main

    return cli_main(["embed", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
