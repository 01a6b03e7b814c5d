"""Incremental commits: stage a run's rows privately, then upsert them as ONE table version.

The changed rows' fragments are committed into a staging dataset beside the table (readers of
the table never see it), then a single LanceDB `merge_insert` on `id` updates, inserts and
(optionally) deletes in one commit. The staging dataset lives in the run's staging area
(storage/run_stage.py), removed with it after the commit and kept for a resume if the run dies.
"""

from __future__ import annotations

from dataclasses import dataclass

import lance
import pyarrow as pa

from storage.commit import CommitConflictError, commit_table, latest_version
from storage.db import connect, table_uri
from storage.locks import table_write_lock
from storage.schema import CHUNK, DOC_ID


@dataclass(frozen=True)
class UpsertResult:
    """The version an incremental run committed (or found unchanged) and what changed."""

    version: int
    updated: int = 0
    inserted: int = 0
    deleted: int = 0


def upsert_staged(db: str, table: str, staging_uri: str, fragments: list[str], schema: pa.Schema,
                  delete_filter: str | None, read_version: int) -> UpsertResult:
    """Upsert the staged fragments (and delete rows matching delete_filter) in one version.

    Nothing to stage and nothing to delete commits nothing: the table keeps read_version.
    """
    if not fragments and delete_filter is None:
        return UpsertResult(version=read_version)
    _stage(staging_uri, fragments, schema)
    with table_write_lock(table_uri(db, table)):
        handle = _unmoved(db, table, read_version)
        if not fragments:
            before = handle.count_rows()
            version = handle.delete(delete_filter).version
            return UpsertResult(version=version, deleted=before - handle.count_rows())
        result = _merge(handle, staging_uri, delete_filter)
    return UpsertResult(version=result.version, updated=result.num_updated_rows,
                        inserted=result.num_inserted_rows, deleted=result.num_deleted_rows)


def upsert_documents(db: str, table: str, staging_uri: str, fragments: list[str],
                     schema: pa.Schema, gone: list[str], read_version: int) -> UpsertResult:
    """A chunked table's incremental commit, by document, in one version.

    Every staged document replaces all of its old chunks (more or fewer), a gone document loses
    all of its chunks; counts are documents. The merge on `id` updates the chunks both versions
    have and inserts the new ones; old chunks beyond the new count are deleted as "not matched
    by the source" among the staged and gone documents.
    """
    if not fragments and not gone:
        return UpsertResult(version=read_version)
    _stage(staging_uri, fragments, schema)
    staged = (sorted(set(lance.dataset(staging_uri).to_table(columns=[DOC_ID]).column(DOC_ID)
                         .to_pylist())) if fragments else [])
    with table_write_lock(table_uri(db, table)):
        handle = _unmoved(db, table, read_version)
        updated = handle.count_rows(f"{CHUNK} = 0 AND {values_filter(DOC_ID, staged)}") if staged else 0
        where = values_filter(DOC_ID, [*staged, *gone])
        if fragments:
            version = _merge(handle, staging_uri, where).version
        else:
            version = handle.delete(where).version
    return UpsertResult(version=version, updated=updated, inserted=len(staged) - updated,
                        deleted=len(gone))


def values_filter(column: str, values: list[str]) -> str:
    """A SQL filter matching exactly these string values of a column (quotes doubled)."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def _stage(staging_uri: str, fragments: list[str], schema: pa.Schema) -> None:
    """Commit the run's fragments into its private staging dataset (no reader sees it)."""
    if fragments:
        # Private to the run; a resumed run may find the dead run's commit of it there.
        staged_version = latest_version(staging_uri)
        commit_table(staging_uri, fragments, schema, "overwrite" if staged_version else "create",
                     staged_version, lock=False)


def _unmoved(db: str, table: str, read_version: int):
    """The table's handle, refusing one that moved since the run planned against it."""
    handle = connect(db).open_table(table)
    if handle.version != read_version:
        # Unchanged rows were decided against read_version; upserting over a newer version
        # could keep rows another run just replaced or deleted, or insert its new ids again.
        raise CommitConflictError(f"table {table!r} moved from version {read_version} to "
                                  f"{handle.version} during the run; nothing was committed, "
                                  "run again")
    return handle


def _merge(handle, staging_uri: str, delete_filter: str | None):
    """One merge_insert on `id` of the staged rows, deleting unmatched rows the filter names."""
    staged = lance.dataset(staging_uri)
    merge = handle.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
    if delete_filter is not None:
        merge = merge.when_not_matched_by_source_delete(delete_filter)
    return merge.execute(staged.scanner().to_reader())
