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
    if fragments:
        # Private to the run; a resumed run may find the dead run's commit of it there.
        staged_version = latest_version(staging_uri)
        commit_table(staging_uri, fragments, schema, "overwrite" if staged_version else "create",
                     staged_version, lock=False)
    with table_write_lock(table_uri(db, table)):
        handle = connect(db).open_table(table)
        if handle.version != read_version:
            # Unchanged rows were decided against read_version; upserting over a newer version
            # could keep rows another run just replaced or deleted, or insert its new ids again.
            raise CommitConflictError(f"table {table!r} moved from version {read_version} to "
                                      f"{handle.version} during the run; nothing was committed, "
                                      "run again")
        if not fragments:
            before = handle.count_rows()
            version = handle.delete(delete_filter).version
            return UpsertResult(version=version, deleted=before - handle.count_rows())
        staged = lance.dataset(staging_uri)
        merge = handle.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
        if delete_filter is not None:
            merge = merge.when_not_matched_by_source_delete(delete_filter)
        result = merge.execute(staged.scanner().to_reader())
    return UpsertResult(version=result.version, updated=result.num_updated_rows,
                        inserted=result.num_inserted_rows, deleted=result.num_deleted_rows)

