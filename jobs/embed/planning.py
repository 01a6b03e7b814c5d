"""The planning pass on the cluster: every row's key and validity, duplicates, the incremental diff."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from jobs.config import EmbedConfig
from jobs.embed.capacity import IO_TASK_CPUS
from jobs.embed.changes import ChangeError, ChangeSet, diff_rows
from jobs.embed.plan import RowPlan, embeddable_rows, plan_rows
from jobs.embed.rows import unify_schemas
from jobs.embed.sources import SourceFile
from jobs.embed.stages import SCHEMA_COLUMN, extract_keys
from jobs.errors import RunError
from storage.db import dataset_or_none
from storage.schema import OWN_COLUMNS


def plan_pass(run) -> tuple[RowPlan, ChangeSet | None]:
    """The planning pass of an opened run (run.OpenRun): validity, duplicates, incremental diff."""
    import ray

    plan, keys = plan_run(ray.data.read_datasource(run.datasource, num_cpus=IO_TASK_CPUS),
                          run.sources,
                          run.existing if run.mode in ("append", "incremental") else None,
                          run.fingerprint if run.incremental else None)
    if plan.read == 0:
        raise RunError(f"empty corpus: no rows in {', '.join(run.config.source.paths)}")
    changes = plan_changes(run.config, keys, plan, run.read_version) if run.incremental else None
    if changes is not None:
        plan = replace(plan, skip_keys=changes.skip_keys)
    return plan, changes



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
        carried = carried_for_append(carried, existing)
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


def carried_for_append(carried: pa.Schema, existing: pa.Schema) -> pa.Schema:
    table_carried = pa.schema([f for f in existing if f.name not in OWN_COLUMNS])
    extra = [n for n in carried.names if n not in table_carried.names]
    if extra:
        raise RunError(f"source columns {', '.join(extra)} are not in the table; "
                       "use --mode rebuild to change the table's columns")
    return table_carried
