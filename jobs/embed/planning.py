"""The planning pass on the cluster: validity, duplicates, the incremental diff, what to resume.

Everything per row stays on the cluster: read tasks write each row's key to its id's bucket
(files in the run's staging area), the table's (id, content_hash) and a dead run's write
records are partitioned the same way, and one task per bucket decides its rows. The driver
sums counts; the embedding pass's read tasks look their rows' decisions up by key range.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from jobs.embed.capacity import PLAN_TASK_CPUS
from jobs.embed.changes import ChangeSet
from jobs.embed.partition import (
    DECISIONS,
    GONE,
    RECORDS,
    SCHEMA_COLUMN,
    TABLE,
    bucket_count,
    bucket_groups,
    decide_buckets,
    partition_keys,
    partition_record_files,
    partition_table_fragments,
)
from jobs.embed.plan import RowPlan, Truncation
from jobs.embed.rows import unify_schemas
from jobs.errors import RunError, root_cause
from storage.db import table_uri
from storage.run_stage import RunStage, WriteRecord, parquet_files
from storage.schema import is_chunked, own_columns

RECORD_ROWS_PER_TASK = 1_000_000  # a dead run's written rows per partition task
TABLE_ROWS_PER_TASK = 1_000_000  # table rows per partition task (a task per group of fragments)


@dataclass(frozen=True)
class Resumable:
    """A dead run's staging area and its write records, offered to the run being planned."""

    stage: RunStage
    records: list[WriteRecord]


def plan_pass(run, work: RunStage, resumable: Resumable | None = None
              ) -> tuple[RowPlan, ChangeSet | None, list[WriteRecord]]:
    """Plan an opened run (run.OpenRun); plan files go to `work`. Returns the plan, the diff
    (incremental runs) and the records of `resumable` whose rows are all still wanted."""
    import ray

    plan_uri = work.plan_root(run.run_id)
    buckets = bucket_count(sum(s.size for s in run.sources))
    records = [r for r in resumable.records if r.rows] if resumable else []
    fingerprint = run.fingerprint if (run.incremental or records) else None
    blocks = (ray.data.read_datasource(run.datasource, num_cpus=PLAN_TASK_CPUS)
              .map_batches(partition_keys, batch_format="pyarrow", batch_size=None,
                           num_cpus=PLAN_TASK_CPUS,
                           fn_kwargs={"plan_uri": plan_uri, "buckets": buckets,
                                      "fingerprint": fingerprint, "model": run.config.model})
              .take_all())
    read = sum(b["rows"] for b in blocks)
    if read == 0:
        raise RunError(f"empty corpus: no rows in {', '.join(run.config.source.paths)}")
    carried = unify_schemas([pa.ipc.read_schema(pa.py_buffer(b[SCHEMA_COLUMN])) for b in blocks])
    if run.existing is not None and run.mode in ("append", "incremental"):
        carried = carried_for_append(carried, run.existing)
    if run.incremental:
        _partition_table(run, f"{plan_uri}/{TABLE}", buckets)
    if records:
        _partition_records(records, resumable.stage.written_uri, f"{plan_uri}/{RECORDS}", buckets)
    counts = _decide(plan_uri, buckets, run)
    matched: Counter = Counter()
    for c in counts:
        matched.update(json.loads(c["records"]))
    reused = [r for r in records if matched.get(r.record, 0) == r.rows]
    total = {k: sum(c[k] for c in counts) for k in ("duplicates", "unchanged", "changed", "new",
                                                      "gone")}
    plan = RowPlan(read=read, rejected_on_read=sum(b["rejected"] for b in blocks),
                   truncation=Truncation.of(blocks, run.config.model.chunk),
                   duplicates=total["duplicates"], carried=carried,
                   skipped=total["unchanged"], resumed=sum(r.rows for r in reused),
                   decisions_uri=f"{plan_uri}/{DECISIONS}",
                   reused_records=frozenset(r.record for r in reused))
    changes = ChangeSet(unchanged=total["unchanged"], to_update=total["changed"],
                        to_insert=total["new"], to_delete=total["gone"],
                        gone_uri=f"{plan_uri}/{GONE}") if run.incremental else None
    return plan, changes, reused


def _partition_records(records: list[WriteRecord], written_uri: str, out_uri: str,
                       buckets: int) -> int:
    """A dead run's write records, by bucket: plain tasks over groups of files.

    Ray Data's Parquet reader costs about 7 s of fixed time here even for ten small files
    (metadata and size-sampling tasks); reading each file whole in a task costs under one.
    """
    import ray

    wanted = {r.record for r in records}
    files = [f for f in parquet_files(written_uri)
             if f.rsplit("/", 1)[-1].removesuffix(".parquet") in wanted]
    tasks = max(1, min(len(files), sum(r.rows for r in records) // RECORD_ROWS_PER_TASK + 1))
    partition = ray.remote(partition_record_files).options(num_cpus=PLAN_TASK_CPUS, max_retries=3)
    return sum(ray.get([partition.remote(files[i::tasks], out_uri, buckets) for i in range(tasks)]))


def _partition_table(run, out_uri: str, buckets: int) -> int:
    """The table's (id, content_hash) at the version the run planned against, by bucket.

    Plain tasks over groups of fragments, as for write records: a Ray Data read of the table
    cost 1.7-3.5 s of an incremental run of 3,000 unchanged rows, most of the run.
    """
    import lance
    import ray

    config = run.config
    uri = table_uri(config.db, config.table)
    table = lance.dataset(uri, version=run.read_version)
    fragments = [f.fragment_id for f in table.get_fragments()]
    if not fragments:
        return 0
    tasks = max(1, min(len(fragments), table.count_rows() // TABLE_ROWS_PER_TASK + 1))
    partition = ray.remote(partition_table_fragments).options(num_cpus=PLAN_TASK_CPUS, max_retries=3)
    return sum(ray.get([partition.remote(uri, run.read_version, fragments[i::tasks],
                                         is_chunked(run.existing), out_uri, buckets)
                        for i in range(tasks)]))


def _decide(plan_uri: str, buckets: int, run) -> list[dict]:
    """Ray tasks deciding the buckets (plain tasks: a Ray Data pipeline costs more to start)."""
    import ray

    decide = ray.remote(decide_buckets).options(num_cpus=PLAN_TASK_CPUS, max_retries=3)
    file_names = ray.put([s.path for s in run.sources])
    groups = bucket_groups(buckets, sum(s.size for s in run.sources))
    tasks = [decide.remote(pa.table({"bucket": pa.array(group, pa.int64())}), plan_uri,
                           file_names, run.incremental, run.config.delete_missing)
             for group in groups]
    try:
        return [row for part in ray.get(tasks) for row in part.to_pylist()]
    except Exception as exc:  # a bucket found the table holding an id twice, among others
        reason = root_cause(exc)
        raise RunError(reason.removeprefix("ChangeError: ")) from None


def carried_for_append(carried: pa.Schema, existing: pa.Schema) -> pa.Schema:
    """The table's carried columns, refusing source columns the table does not have."""
    table_carried = pa.schema([f for f in existing if f.name not in own_columns(existing)])
    extra = [n for n in carried.names if n not in table_carried.names]
    if extra:
        raise RunError(f"source columns {', '.join(extra)} are not in the table; "
                       "use --mode rebuild to change the table's columns")
    return table_carried

