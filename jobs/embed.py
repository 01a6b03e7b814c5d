"""The embed job: read -> validate -> plan -> embed on an actor pool -> one atomic commit.

Run it as `embedfleet embed ...` or, on a cluster, as
`ray job submit --working-dir . -- python -m jobs.embed ...` (same arguments).
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
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
from jobs.config import EmbedConfig
from jobs.errors import RunError
from jobs.plan import RowPlan, plan_rows
from jobs.rows import config_fingerprint, unify_schemas
from jobs.sources import SourceFile, check_sources, resolve_sources
from jobs.stages import SCHEMA_COLUMN, extract_keys, prepare_rows
from jobs.summary import RunSummary
from storage.commit import commit_rejects, commit_table
from storage.db import dataset_or_none, db_path, table_uri
from storage.index import refresh_index
from storage.names import companion, validate_table_name
from storage.runs import record_run
from storage.schema import Provenance, library_versions, provenance_of, table_schema, vector_type
from storage.sink import RunSink

log = logging.getLogger("embedfleet")


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

    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    c = config.compute
    resources = actor_resources(cpus, gpus, c.min_actors, c.max_actors, c.cpus_per_actor,
                                c.gpus_per_actor)
    problem = capacity_problem(cpus, gpus, c.min_actors, resources)
    if problem and local:
        raise CapacityError(problem)
    if problem:
        log.warning("%s; waiting for the autoscaler to add nodes", problem)
    return resources


def check_mode(config: EmbedConfig) -> tuple[int | None, pa.Schema | None]:
    """Refuse what the mode forbids; return the version and schema the run builds on."""
    dataset = dataset_or_none(config.db, config.table)
    where = f"{config.table!r} in {db_path(config.db)}"
    if config.mode == "create" and dataset is not None:
        raise RunError(f"table {where} already exists (version {dataset.version}, "
                       f"{dataset.count_rows()} rows); use --mode append or --mode overwrite")
    if config.mode == "append":
        if dataset is None:
            raise RunError(f"table {where} does not exist; use --mode create")
        existing = provenance_of(dataset.schema)
        wanted = provenance_for(config, existing.dim if existing else 0, 0)
        differences = existing.config_differences(wanted) if existing else ["no provenance"]
        if differences:
            raise RunError(f"cannot append to {where}: its vectors were made differently "
                           f"({'; '.join(differences)}); use --mode overwrite")
    if dataset is None:
        return None, None
    return dataset.version, dataset.schema


def provenance_for(config: EmbedConfig, dim: int, native_dim: int) -> Provenance:
    """The provenance this run's vectors will carry."""
    m = config.model
    return Provenance(model=m.model, dim=dim, native_dim=native_dim, truncate_dim=m.truncate_dim,
                      normalized=True, doc_prefix=m.doc_prefix, query_prefix=m.query_prefix,
                      max_seq_length=m.max_seq_length, backend=m.backend, dtype=m.dtype,
                      keep_full=m.keep_full, versions=library_versions())


def plan_run(ds, sources: list[SourceFile], existing: pa.Schema | None) -> RowPlan:
    """Planning pass over every row: counts, duplicate ids, and the carried columns' types."""
    import ray

    parts = ray.get(ds.map_batches(extract_keys, batch_format="pyarrow", batch_size=None,
                                   num_cpus=IO_TASK_CPUS).to_arrow_refs())
    parts = [p for p in parts if p.num_rows]
    keys = pa.concat_tables(parts) if parts else pa.table(
        {"id": pa.array([], pa.string()), "_file": pa.array([], pa.int32()),
         "_row": pa.array([], pa.int64()), "_reject": pa.array([], pa.string())})
    schemas = [pa.ipc.read_schema(pa.py_buffer(s)) for s in
               keys.column(SCHEMA_COLUMN).drop_null().to_pylist()] if parts else []
    carried = unify_schemas(schemas)
    if existing is not None:
        carried = _carried_for_append(carried, existing)
    return plan_rows(keys, [s.path for s in sources], carried)


def _carried_for_append(carried: pa.Schema, existing: pa.Schema) -> pa.Schema:
    table_carried = pa.schema([f for f in existing if f.name not in
                               ("id", "text", "vector", "vector_full", "content_hash",
                                "embedded_at")])
    extra = [n for n in carried.names if n not in table_carried.names]
    if extra:
        raise RunError(f"source columns {', '.join(extra)} are not in the table; "
                       "use --mode overwrite to change the table's columns")
    return table_carried


def run_embed(config: EmbedConfig) -> RunSummary:
    """Run one embed job end to end and return its summary (also recorded in the runs table)."""
    import ray

    from actors.embedder import Embedder
    from jobs.corpus_datasource import CorpusDatasource

    validate_table_name(config.table)
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    summary = RunSummary(table=config.table, run_id=run_id, mode=config.mode)
    sources = resolve_sources(config.source.paths, config.source.format)
    check_sources(sources, config.source.id_column, config.source.text_column)
    read_version, existing = check_mode(config)
    local = ensure_ray(config.ray_address)
    resources = plan_resources(config, local)
    clock = time.perf_counter()  # the run's time, not the cluster's start-up
    try:
        datasource = CorpusDatasource(sources, config.source.id_column, config.source.text_column)
        plan = plan_run(ray.data.read_datasource(datasource, num_cpus=IO_TASK_CPUS), sources,
                        existing if config.mode == "append" else None)
        summary.read = plan.read
        if plan.read == 0:
            raise RunError(f"empty corpus: no rows in {', '.join(config.source.paths)}")
        compute = config.compute
        sink = RunSink(table_uri(config.db, config.table),
                       table_uri(config.db, companion(config.table, "rejects")), plan.carried,
                       run_id, np.datetime64(started.replace(tzinfo=None), "us"),
                       [s.path for s in sources], compute.write_batch_rows, config.mode)
        (ray.data.read_datasource(datasource, num_cpus=IO_TASK_CPUS)
         .map_batches(prepare_rows, batch_format="pyarrow", batch_size=None, num_cpus=IO_TASK_CPUS,
                      fn_kwargs={"plan": plan, "fingerprint": config_fingerprint(config.model)})
         .map_batches(Embedder, batch_format="pyarrow", batch_size=compute.batch_size,
                      compute=ray.data.ActorPoolStrategy(min_size=compute.min_actors,
                                                         max_size=compute.max_actors),
                      fn_constructor_kwargs={"model": config.model,
                                             "max_batch_tokens": compute.max_batch_tokens,
                                             "max_batch_rows": compute.batch_size,
                                             "threads": resources.threads},
                      num_gpus=resources.gpus, num_cpus=resources.cpus)
         .write_datasink(sink, ray_remote_args={"num_cpus": IO_TASK_CPUS}))
        report = sink.report
        summary.embedded, summary.rejected = report.embedded, report.rejected
        summary.tokens, summary.actors = report.tokens, report.actors
        if not summary.balanced():
            raise RunError(f"rows do not add up: read {summary.read} but embedded "
                           f"{summary.embedded} + rejected {summary.rejected}; the source "
                           "changed during the run? nothing was committed")
        summary.version = _commit(config, plan, report, read_version)
        commit_rejects(table_uri(config.db, companion(config.table, "rejects")),
                       report.reject_fragments)
        if summary.version is None:
            raise RunError(f"no row could be embedded ({report.rejected} rejected; see "
                           f"{companion(config.table, 'rejects')}); table {config.table!r} "
                           "unchanged")
        summary.index = refresh_index(config.db, config.table, config.index_threshold,
                                      config.index_type)
    except Exception as exc:
        summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
        summary.seconds = time.perf_counter() - clock
        _record(config, summary, started)
        raise
    summary.seconds = time.perf_counter() - clock
    _record(config, summary, started)
    return summary


def _commit(config: EmbedConfig, plan: RowPlan, report, read_version: int | None) -> int | None:
    if not report.fragments:
        return read_version if config.mode == "append" else None
    provenance = provenance_for(config, report.dim, report.native_dim)
    full = vector_type(report.native_dim, config.model.dtype) if config.model.keep_full else None
    schema = table_schema(plan.carried, vector_type(report.dim, config.model.dtype), provenance, full)
    return commit_table(table_uri(config.db, config.table), report.fragments, schema,
                        config.mode, read_version)


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
