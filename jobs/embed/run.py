"""The embed job: read -> validate -> plan -> embed on an actor pool -> one atomic commit.

Run it as `embedfleet embed ...` or, on a cluster, as
`ray job submit --working-dir . -- python -m jobs.embed ...` (same arguments).
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from actors.encoders import check_truncation
from actors.encoders.chunker import chunk_sizes
from jobs.config import EmbedConfig
from jobs.embed.capacity import IO_TASK_CPUS, ActorResources
from jobs.embed.changes import ChangeSet, upsert_changes
from jobs.embed.modes import check_mode
from jobs.embed.on_cluster import ON_CLUSTER_ROWS, on_cluster
from jobs.embed.plan import RowPlan, plan_line
from jobs.embed.planning import plan_pass
from jobs.embed.pool import (
    ACTOR_RESTARTS,
    add_embed_stage,
    ensure_ray,
    plan_resources,
    pool_class,
    release_pool,
)
from jobs.embed.progress import ProgressReporter, quiet_ray_data
from jobs.embed.resume import claim_stage, fragments_uri, settle_records, with_reused
from jobs.embed.sources import SourceFile, check_sources, resolve_sources
from jobs.embed.stages import prepare_rows
from jobs.embed.summary import RunSummary
from jobs.errors import EmbedPassError, RunError, root_cause
from storage.commit import commit_rejects, commit_table
from storage.db import dataset_or_none, table_uri
from storage.index import refresh_index
from storage.names import companion, validate_table_name
from storage.provenance import Provenance, config_fingerprint
from storage.run_stage import RunStage, remove_tree
from storage.runs import record_run
from storage.schema import table_schema, vector_type
from storage.sink import RunSink, WriteReport

log = logging.getLogger("embedfleet")
TRUNCATION_WARN_SHARE = 0.05  # a run dropping more of its tokens than this at the window warns


@dataclass(frozen=True)
class OpenRun:
    """A run checked and connected, before any pass: what both a run and a dry run start from."""

    config: EmbedConfig
    run_id: str
    started: datetime
    sources: list[SourceFile]
    mode: str
    read_version: int | None
    existing: pa.Schema | None
    fingerprint: str
    resources: ActorResources
    datasource: object

    @property
    def incremental(self) -> bool:
        """True when the run diffs the source against the table."""
        return self.mode == "incremental"


def open_run(config: EmbedConfig, progress: ProgressReporter) -> OpenRun:
    """Check everything that can be checked before reading a row, then join or start Ray."""
    from jobs.embed.datasource import CorpusDatasource

    validate_table_name(config.table)
    check_truncation(config.model)
    started = datetime.now(UTC)
    run_id = config.run_id or f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    sources = resolve_sources(config.source.paths, config.source.format)
    check_sources(sources, config.source.id_column, config.source.text_column, config.model.chunk,
                  config.model.chunk_header)
    if config.model.chunk:
        chunk_sizes(config.model)  # a chunk size the window cannot hold fails here, not in a task
    mode, read_version, existing = check_mode(config)
    local = ensure_ray(config.ray_address)
    quiet_ray_data(progress.verbose)
    resources = plan_resources(config, local)
    # Chunking costs milliseconds per document in the prepare tasks: smaller blocks let the
    # actors start on the first chunks instead of waiting for a whole file to be cut.
    blocks = {"block_bytes": 1 << 20, "block_rows": 2048} if config.model.chunk else {}
    datasource = CorpusDatasource(sources, config.source.id_column, config.source.text_column,
                                  **blocks)
    return OpenRun(config, run_id, started, sources, mode, read_version, existing,
                   config_fingerprint(config.model), resources, datasource)


def run_embed(config: EmbedConfig, progress: ProgressReporter | None = None) -> RunSummary:
    """Run one embed job end to end and return its summary (also recorded in the runs table).

    `progress` shows the run to a person (nothing is shown without one). A run that died is
    resumed by running it again: what it wrote is reused, the rest embedded, all in one commit.
    """
    progress = progress or ProgressReporter(enabled=False)
    run = open_run(config, progress)
    summary = RunSummary(table=config.table, run_id=run.run_id, mode=run.mode)
    clock = time.perf_counter()  # the run's time, not the cluster's start-up
    stage = lease = None
    try:
        stage, resumable, lease = claim_stage(run)
        plan, changes, reused = plan_pass(run, stage, resumable)
        reused = settle_records(run, stage, resumable, reused)
        if len(reused) != len(plan.reused_records):  # files gone (cleanup ran): embed those rows
            plan = replace(plan, resumed=sum(r.rows for r in reused),
                           reused_records=frozenset(r.record for r in reused))
        summary.read, summary.skipped_unchanged, summary.resumed = (plan.read, plan.skipped,
                                                                    plan.resumed)
        summary.resumed_from = resumable.stage.stage_id if resumable else None
        progress.note(plan_line(plan, len(run.sources), time.perf_counter() - clock))
        report_truncation(plan, summary)
        report = with_reused(_embed_pass(run, plan, _sink(run, plan, stage), progress), reused)
        _commit_run(run, plan, report, changes, stage, summary)
        stage.remove()  # committed: nothing left to resume
        if summary.version != run.read_version:
            summary.index = _refresh_index(config)
    except BaseException as exc:  # Ctrl-C too: the run is recorded failed, its records kept
        summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
        summary.seconds = time.perf_counter() - clock
        _record(config, summary, run.started)
        raise
    finally:
        if stage is not None:
            remove_tree(stage.plan_uri)  # its own plan files and a dead run's: it holds the lease
        if lease is not None:
            lease.release()
    summary.seconds = time.perf_counter() - clock
    _record(config, summary, run.started)
    return summary


def report_truncation(plan: RowPlan, summary: RunSummary) -> None:
    """Keep the truncation report in the summary; warn once when truncation drops too much."""
    truncation = plan.truncation
    if truncation is None:
        return
    summary.truncation = truncation.to_dict()
    if truncation.dropped_share > TRUNCATION_WARN_SHARE:
        log.warning("%s: %d of %d documents are longer than the model's window and %.1f%% of "
                    "all tokens are never embedded; add --chunk to embed every document whole, "
                    "in chunks", summary.table, truncation.over_window, truncation.documents,
                    100 * truncation.dropped_share)


def _sink(run: OpenRun, plan: RowPlan, stage: RunStage) -> RunSink:
    config = run.config
    return RunSink(fragments_uri(run, stage),
                   table_uri(config.db, companion(config.table, "rejects")), plan.carried,
                   run.run_id, np.datetime64(run.started.replace(tzinfo=None), "us"),
                   [s.path for s in run.sources], config.compute.write_batch_rows,
                   "create" if run.incremental else run.mode, stage, config.model.chunk)


def _commit_run(run: OpenRun, plan: RowPlan, report: WriteReport, changes: ChangeSet | None,
                stage: RunStage, summary: RunSummary) -> None:
    """Check the counts add up, then commit the table (one version) and the rejects."""
    config = run.config
    summary.embedded, summary.rejected = report.embedded, report.rejected
    summary.tokens, summary.actors = report.tokens, report.actors
    summary.chunks = report.chunks if config.model.chunk else None
    if not summary.balanced():
        raise RunError(f"rows do not add up: read {summary.read} but embedded "
                       f"{summary.embedded} + resumed {summary.resumed} + skipped "
                       f"{summary.skipped_unchanged} + rejected "
                       f"{summary.rejected}; the source changed during the run? nothing was "
                       "committed")
    if run.incremental:
        _upsert(config, report, run.read_version, run.existing, changes, stage.rows_uri, summary)
    else:
        summary.version = _commit(config, run.mode, plan, report, run.read_version)
        summary.inserted = summary.embedded + summary.resumed
    commit_rejects(table_uri(config.db, companion(config.table, "rejects")),
                   report.reject_fragments)
    if summary.version is None:
        raise RunError(f"no row could be embedded ({report.rejected} rejected; see "
                       f"{companion(config.table, 'rejects')}); table {config.table!r} "
                       "unchanged")


def prepared_rows(run: OpenRun, plan: RowPlan):
    """The embedding pass's input: rows read again, the plan applied (skips, rejects), hashed."""
    import ray

    io_tasks = run.resources.io_tasks
    return (ray.data.read_datasource(run.datasource, num_cpus=IO_TASK_CPUS, concurrency=io_tasks)
            .map_batches(prepare_rows, batch_format="pyarrow", batch_size=None,
                         num_cpus=IO_TASK_CPUS, compute=ray.data.TaskPoolStrategy(size=io_tasks),
                         fn_kwargs={"plan": plan, "fingerprint": run.fingerprint,
                                    "chunking": run.config.model if run.config.model.chunk else None,
                                    "max_chunks": run.config.max_chunks}))


def _embed_pass(run: OpenRun, plan: RowPlan, sink: RunSink,
                progress: ProgressReporter) -> WriteReport:
    """Second pass: prepare rows, embed them on the actor pool, write uncommitted fragments."""

    if plan.to_read_again == 0:
        return WriteReport()  # every row is in the table unchanged or resumed: nothing to read
    embedder = pool_class(run.run_id)
    ds = prepared_rows(run, plan)
    if plan.to_embed > 0:  # only rejects left: no model needs to load to record them
        counter = progress.start(plan.to_read_again)
        ds = add_embed_stage(ds, embedder, run.config, run.resources, counter)
    failure = None
    try:
        ds.write_datasink(sink, ray_remote_args={"num_cpus": IO_TASK_CPUS},
                          concurrency=run.resources.io_tasks)
    except Exception as exc:  # noqa: BLE001 - re-raised below without Ray's frames
        failure = root_cause(exc)
        log.error("embedding pass failed: %s", failure)
        if failure.startswith(("ActorUnavailableError", "ActorDiedError")):
            failure = (f"an embedder actor died and was not restarted (each restarts at most "
                       f"{ACTOR_RESTARTS} times: a batch that crashes its process every time, "
                       f"or out of memory?): {failure}")
    finally:
        progress.stop()
    release_pool(embedder)
    if failure is not None:
        # Ray Data's error keeps the executor alive through traceback frames: drop it and
        # raise a plain error.
        del ds
        gc.collect()
        raise EmbedPassError(failure)
    return sink.report


def _schema(config: EmbedConfig, plan: RowPlan, report: WriteReport) -> pa.Schema:
    provenance = Provenance.build(config.model, report.dim, report.native_dim)
    full = vector_type(report.native_dim, config.model.dtype) if config.model.keep_full else None
    return table_schema(plan.carried, vector_type(report.dim, config.model.dtype), provenance, full,
                        chunked=config.model.chunk)


def _commit(config: EmbedConfig, mode: str, plan: RowPlan, report: WriteReport,
            read_version: int | None) -> int | None:
    if not report.fragments:
        return read_version if mode == "append" else None
    return commit_table(table_uri(config.db, config.table), report.fragments,
                        _schema(config, plan, report), "overwrite" if mode == "rebuild" else mode,
                        read_version)


def _upsert(config: EmbedConfig, report: WriteReport, read_version: int,
            existing: pa.Schema, changes: ChangeSet, staged: str, summary: RunSummary) -> None:
    """Commit an incremental run: one merge_insert of the changed rows (and deletes), or nothing."""
    table_dim = existing.field("vector").type.list_size
    if report.fragments and report.dim != table_dim:
        raise RunError(f"the model now gives {report.dim}-dim vectors but table "
                       f"{config.table!r} holds {table_dim}-dim ones; use --mode rebuild")
    gone = changes.gone_uri if changes.to_delete else None
    where = on_cluster if _large(config) else _here
    result = where(upsert_changes, config.db, config.table, staged, report.fragments, existing,
                   gone, read_version)
    summary.version = result.version
    summary.updated, summary.inserted, summary.deleted = (result.updated, result.inserted,
                                                          result.deleted)


def _refresh_index(config: EmbedConfig) -> str:
    """Build or refresh the ANN index; a failure is a warning: the run's outcome is its commit."""
    try:
        where = on_cluster if _large(config) else _here
        return where(refresh_index, config.db, config.table, config.index_threshold,
                     config.index_type)
    except Exception as exc:  # noqa: BLE001 - the rows are committed; searches stay exact
        reason = root_cause(exc)
        log.warning("index on %s failed after the commit (searches stay exact): %s", config.table,
                    reason)
        return f"failed: {reason}"


def _large(config: EmbedConfig) -> bool:
    """True once a table is big enough that its merge or index build belongs in a Ray task.

    Below that, starting a task (a fresh worker importing Lance) costs more than the step.
    """
    dataset = dataset_or_none(config.db, config.table)
    return dataset is not None and dataset.count_rows() >= ON_CLUSTER_ROWS


def _here(fn, *args):
    return fn(*args)


def _record(config: EmbedConfig, summary: RunSummary, started: datetime) -> None:
    try:
        record_run(config.db, config.table, summary.to_dict(), started, datetime.now(UTC))
    except Exception:  # noqa: BLE001 - a failed history write must not hide the run's outcome
        log.exception("could not record run %s", summary.run_id)
