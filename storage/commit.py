"""Atomic commits: all fragments of a run become exactly one new version, or nothing does."""

from __future__ import annotations

import json

import lance
import pyarrow as pa
from lance.fragment import FragmentMetadata

from storage.schema import REJECTS_SCHEMA


class CommitConflictError(RuntimeError):
    """Another writer changed the table in a way this run cannot be committed over."""


def _fragments(serialized: list[str]) -> list[FragmentMetadata]:
    return [FragmentMetadata.from_json(s) for s in serialized]


def commit_table(uri: str, fragments: list[str], schema: pa.Schema, mode: str,
                 read_version: int | None) -> int:
    """Commit a run's fragments as one version; return that version.

    create: the table must not exist yet; overwrite: replaces the rows (older versions stay
    restorable); append: adds rows to read_version, the version the run was planned against.
    """
    frags = _fragments(fragments)
    if mode == "append":
        op = lance.LanceOperation.Append(frags)
    else:
        if mode == "create" and _exists(uri):
            raise CommitConflictError(f"table at {uri} was created by another run meanwhile")
        op = lance.LanceOperation.Overwrite(schema, frags)
    dataset = lance.LanceDataset.commit(uri, op, read_version=read_version)
    return dataset.version


def commit_rejects(uri: str, fragments: list[str]) -> int | None:
    """Add a run's rejected rows to the rejects table (created on first use)."""
    if not fragments:
        return None
    frags = _fragments(fragments)
    if _exists(uri):
        op = lance.LanceOperation.Append(frags)
        version = lance.dataset(uri).version
    else:
        op, version = lance.LanceOperation.Overwrite(REJECTS_SCHEMA, frags), None
    return lance.LanceDataset.commit(uri, op, read_version=version).version


def _exists(uri: str) -> bool:
    try:
        lance.dataset(uri)
        return True
    except (ValueError, FileNotFoundError, OSError):
        return False


def fragment_rows(fragments: list[str]) -> int:
    """Rows held by serialized fragments (a cross-check before committing)."""
    return sum(json.loads(s).get("physical_rows", 0) for s in fragments)
