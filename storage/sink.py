"""A Ray Data datasink that writes uncommitted Lance fragments for a table and its rejects.

Nothing written here is visible to readers: the driver commits all fragments of a run as
one new table version after every write task succeeded (see storage/commit.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ray.data.datasource import Datasink

from storage.chunk_rows import documents_in, first_row_per_document, record_rows, whole_documents
from storage.run_stage import RunStage, WriteRecord
from storage.schema import DOC_ID, REJECTS_SCHEMA, TIMESTAMP, VECTOR, table_schema

ACTOR, TOKENS = "_actor", "_tokens"


@dataclass
class WriteReport:
    """What one write task (or, combined, the whole run) wrote."""

    fragments: list[str] = field(default_factory=list)
    reject_fragments: list[str] = field(default_factory=list)
    embedded: int = 0  # rows, or in a chunked run documents
    rejected: int = 0  # likewise
    chunks: int = 0  # chunk rows written (chunked runs)
    tokens: int = 0
    actors: dict[str, int] = field(default_factory=dict)
    dim: int | None = None
    native_dim: int | None = None

    def merge(self, other: WriteReport) -> None:
        """Fold another task's report into this one."""
        self.fragments += other.fragments
        self.reject_fragments += other.reject_fragments
        self.embedded += other.embedded
        self.rejected += other.rejected
        self.chunks += other.chunks
        self.tokens += other.tokens
        for actor, rows in other.actors.items():
            self.actors[actor] = self.actors.get(actor, 0) + rows
        self.dim = self.dim or other.dim
        self.native_dim = self.native_dim or other.native_dim


class RunSink(Datasink):
    """Splits each block into embedded rows (table fragments) and rejected rows (rejects)."""

    def __init__(self, table_uri: str, rejects_uri: str, carried: pa.Schema, run_id: str,
                 embedded_at, source_paths: list[str], rows_per_write: int, mode: str,
                 stage: RunStage | None = None, chunked: bool = False):
        self.table_uri, self.rejects_uri, self.stage = table_uri, rejects_uri, stage
        self.chunked = chunked
        self.carried, self.run_id, self.embedded_at = carried, run_id, embedded_at
        self.source_paths = source_paths
        self.rows_per_write = rows_per_write
        # Fragments of a create/overwrite run may have a schema the current version lacks.
        self.fragment_mode = "append" if mode == "append" else "overwrite"
        self.report: WriteReport | None = None

    @property
    def min_rows_per_write(self) -> int:
        return self.rows_per_write

    def write(self, blocks: Iterable[pa.Table], ctx) -> WriteReport:
        from lance.fragment import write_fragments

        tables = [b for b in blocks if b.num_rows]
        report = WriteReport()
        if not tables:
            return report
        batch = pa.concat_tables(tables, promote_options="default")
        if self.chunked:
            batch = whole_documents(batch)
        rejected = pc.is_valid(batch.column("_reject"))
        good, bad = batch.filter(pc.invert(rejected)), batch.filter(rejected)
        if self.chunked:
            bad = first_row_per_document(bad)
        if good.num_rows:
            rows = self._table_rows(good)
            if self.fragment_mode == "append":
                self._check_dim(rows.schema.field(VECTOR).type)
            frags = write_fragments(rows, self.table_uri, schema=rows.schema, mode=self.fragment_mode,
                                    max_rows_per_file=max(self.rows_per_write, good.num_rows))
            report.fragments = [json.dumps(f.to_json()) for f in frags]
            report.embedded = documents_in(good) if self.chunked else good.num_rows
            report.chunks = good.num_rows if self.chunked else 0
            report.tokens = int(pc.sum(good.column(TOKENS)).as_py() or 0)
            actors, counts = np.unique(good.column(ACTOR).to_numpy(zero_copy_only=False),
                                       return_counts=True)
            report.actors = {str(a): int(c) for a, c in zip(actors, counts, strict=True)}
            report.dim = rows.schema.field(VECTOR).type.list_size
            report.native_dim = int(pc.max(good.column("_native_dim")).as_py())
        if bad.num_rows:
            frags = write_fragments(self._reject_rows(bad), self.rejects_uri, schema=REJECTS_SCHEMA)
            report.reject_fragments = [json.dumps(f.to_json()) for f in frags]
            report.rejected = bad.num_rows
        if self.stage is not None:
            # Durable before the task reports success: a run that dies later resumes from it.
            held = record_rows(good) if self.chunked else good.select(["id", "content_hash"])
            self.stage.write_record(held, WriteRecord(
                uuid.uuid4().hex, self.run_id, held.num_rows, report.fragments,
                report.reject_fragments, report.dim, report.native_dim))
        return report

    def _check_dim(self, vector: pa.DataType) -> None:
        """An appended row must have the table's vector size: same model name, other weights?"""
        import lance

        have = lance.dataset(self.table_uri).schema.field(VECTOR).type
        if have != vector:
            name = self.table_uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".lance")
            raise ValueError(f"the model now gives {vector.list_size}-dim vectors but table "
                             f"{name!r} holds {have.list_size}-dim ones; use --mode rebuild")

    def _table_rows(self, good: pa.Table) -> pa.Table:
        full = good.schema.field("vector_full").type if "vector_full" in good.column_names else None
        schema = table_schema(self.carried, good.schema.field(VECTOR).type, full_vector=full,
                              chunked=self.chunked)
        stamp = pa.array(np.full(good.num_rows, self.embedded_at, dtype="datetime64[us]"))
        columns = {f.name: good.column(f.name) for f in schema if f.name in good.column_names}
        columns["embedded_at"] = stamp.cast(TIMESTAMP)
        return pa.table(columns).select(schema.names).cast(schema)

    def _reject_rows(self, bad: pa.Table) -> pa.Table:
        files = bad.column("_file").to_numpy()
        n = bad.num_rows
        stamp = pa.array(np.full(n, np.datetime64("now", "us"))).cast(TIMESTAMP)
        return pa.table({
            "run_id": pa.array([self.run_id] * n, pa.string()),
            "id": bad.column(DOC_ID) if self.chunked else bad.column("id"),
            "reason": bad.column("_reject"),
            "source_file": pa.array([self.source_paths[i] for i in files], pa.string()),
            "source_row": bad.column("_row"),
            "record": bad.column("_raw"),
            "rejected_at": stamp,
        }, schema=REJECTS_SCHEMA)

    def on_write_complete(self, write_result) -> None:
        report = WriteReport()
        for task_report in write_result.write_returns:
            report.merge(task_report)
        self.report = report
