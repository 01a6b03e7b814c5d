"""Incremental runs: which source rows changed against the table, and which ids left the source."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


class ChangeError(ValueError):
    """The table cannot be updated row by row (e.g. it holds the same id twice)."""


@dataclass(frozen=True)
class ChangeSet:
    """What an incremental run will do, decided before any model loads (counts only)."""

    unchanged: int = 0
    to_update: int = 0
    to_insert: int = 0
    to_delete: int = 0
    gone_uri: str | None = None  # where the ids to delete lie, one file per bucket


def missing_ids(gone_uri: str | None) -> list[str]:
    """The ids that left the source, as the planning pass's buckets wrote them (sorted)."""
    from storage.run_stage import read_parquet_folder

    gone = read_parquet_folder(gone_uri) if gone_uri is not None else None
    return [] if gone is None else sorted(gone.column("id").to_pylist())


def upsert_changes(db: str, table: str, staged: str, fragments: list[str], schema: pa.Schema,
                   gone_uri: str | None, read_version: int):
    """The incremental commit (storage.upsert.upsert_staged), deleting the ids that left the
    source: run in a Ray task, so the ids to delete are read there, never by the driver."""
    from storage.schema import is_chunked
    from storage.upsert import upsert_documents, upsert_staged

    missing = missing_ids(gone_uri)
    if is_chunked(schema):
        return upsert_documents(db, table, staged, fragments, schema, missing, read_version)
    return upsert_staged(db, table, staged, fragments, schema,
                         id_filter(missing) if missing else None, read_version)


def check_unique_ids(existing: pa.Table) -> None:
    """Refuse a table holding an id twice: an upsert on it would be ambiguous."""
    if existing.num_rows == 0:
        return
    counts = existing.group_by("id").aggregate([("id", "count")])
    repeated = counts.filter(pc.greater(counts.column("id_count"), 1))
    if repeated.num_rows:
        sample = ", ".join(repr(i) for i in repeated.column("id").to_pylist()[:3])
        raise ChangeError(f"the table holds {repeated.num_rows} id(s) more than once ({sample}; "
                          "written by --mode append?); an incremental run cannot tell which row "
                          "to update: use --mode rebuild")


def id_filter(ids: list[str]) -> str:
    """A SQL filter matching exactly these ids (quotes doubled, as SQL escapes them)."""
    from storage.upsert import values_filter

    return values_filter("id", ids)

