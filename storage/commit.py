"""Atomic commits: all fragments of a run become exactly one new version, or nothing does."""

from __future__ import annotations

import contextlib

import lance
import pyarrow as pa
from lance.fragment import FragmentMetadata

from storage.errors import UserError
from storage.locks import table_write_lock
from storage.schema import REJECTS_SCHEMA


class CommitConflictError(UserError, RuntimeError):
    """Another writer changed the table in a way this run cannot be committed over."""


def _fragments(serialized: list[str]) -> list[FragmentMetadata]:
    return [FragmentMetadata.from_json(s) for s in serialized]


def commit_table(uri: str, fragments: list[str], schema: pa.Schema, mode: str,
                 read_version: int | None, lock: bool = True) -> int:
    """Commit a run's fragments as one version; return that version.

    create: the table must not exist yet; overwrite: replaces the rows (older versions stay
    restorable); append: adds rows to read_version, the version the run was planned against.
    If another writer committed since read_version, nothing is committed: CommitConflictError.
    """
    frags = _fragments(fragments)
    if mode == "append":
        op = lance.LanceOperation.Append(frags)
    else:
        op = lance.LanceOperation.Overwrite(schema, frags)
    with table_write_lock(uri) if lock else contextlib.nullcontext():
        check_unmoved(uri, read_version)
        try:
            # No retries: the commit lands on read_version + 1 or fails, so another writer's
            # version is never silently replaced (Overwrite) or built upon unchecked.
            dataset = lance.LanceDataset.commit(uri, op, read_version=read_version, max_retries=0)
        except OSError:  # lance.commit.CommitConflictError among others
            check_unmoved(uri, read_version)
            raise
    return dataset.version


def check_unmoved(uri: str, read_version: int | None) -> None:
    """Raise CommitConflictError unless the table is still at the version a run planned against.

    read_version None means the run planned to create the table.
    """
    latest = latest_version(uri)
    if latest == read_version:
        return
    name = uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".lance")
    if read_version is None:
        raise CommitConflictError(f"table {name!r} was created by another run meanwhile (now at "
                                  f"version {latest}); nothing was committed, run again")
    raise CommitConflictError(f"table {name!r} moved from version {read_version} to {latest} "
                              "during the run (another writer committed); nothing was committed, "
                              "run again")


def commit_rejects(uri: str, fragments: list[str]) -> int | None:
    """Add a run's rejected rows to the rejects table (created on first use)."""
    if not fragments:
        return None
    frags = _fragments(fragments)
    version = latest_version(uri)
    if version is None:
        try:
            op = lance.LanceOperation.Overwrite(REJECTS_SCHEMA, frags)
            return lance.LanceDataset.commit(uri, op, max_retries=0).version
        except OSError:
            version = latest_version(uri)
            if version is None:
                raise
            # Another run created it first; an Overwrite now would drop that run's rejects.
    # Appends of other runs meanwhile are compatible: Lance rebases onto them.
    return lance.LanceDataset.commit(uri, lance.LanceOperation.Append(frags),
                                     read_version=version).version


def latest_version(uri: str) -> int | None:
    """The newest committed version of a dataset, or None if it has none."""
    try:
        return lance.dataset(uri).version
    except (ValueError, FileNotFoundError, OSError):
        return None
