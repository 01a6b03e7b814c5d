"""LanceDB glue: where tables live, whether they exist, opening them with clear errors."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import lance

from storage.errors import UserError
from storage.names import is_companion, validate_table_name
from storage.provenance import Provenance, provenance_of

if TYPE_CHECKING:
    import lancedb


class TableNotFoundError(UserError, LookupError):
    """The named table does not exist in the database folder."""


def db_path(db: str) -> str:
    """A database location as LanceDB and Lance both accept it (absolute for local folders)."""
    return db if "://" in db else os.path.abspath(os.path.expanduser(db))


def table_uri(db: str, name: str) -> str:
    """The Lance dataset URI of a table: '<db>/<name>.lance', as LanceDB lays it out."""
    return f"{db_path(db).rstrip('/')}/{name}.lance"


def dataset_or_none(db: str, name: str, version: int | None = None) -> lance.LanceDataset | None:
    """The committed Lance dataset of a table, or None if no version was ever committed."""
    try:
        return lance.dataset(table_uri(db, name), version=version)
    except (ValueError, FileNotFoundError, OSError):
        return None


def table_exists(db: str, name: str) -> bool:
    """True once a table has a committed version (a crashed first run leaves none)."""
    return dataset_or_none(db, name) is not None


def connect(db: str) -> lancedb.DBConnection:
    """A LanceDB connection to the database folder."""
    import lancedb  # here, not at the top: a second of CPU that Ray's worker processes need not pay

    return lancedb.connect(db_path(db))


def open_table(db: str, name: str):
    """Open a user table through LanceDB, or raise TableNotFoundError listing what exists."""
    validate_table_name(name)
    if not table_exists(db, name):
        existing = ", ".join(list_tables(db)) or "none"
        raise TableNotFoundError(f"no table {name!r} in {db_path(db)} (tables: {existing})")
    return connect(db).open_table(name)


def list_tables(db: str) -> list[str]:
    """User tables with a committed version, companions left out, sorted."""
    root = db_path(db)
    if "://" not in root and not os.path.isdir(root):
        return []
    connection, names, token = connect(db), [], None
    while True:
        page = connection.list_tables(page_token=token)
        names += page.tables
        token = page.page_token
        if not token:
            break
    return sorted(n for n in names if not is_companion(n) and table_exists(db, n))


def table_provenance(db: str, name: str) -> Provenance | None:
    """Provenance of an existing table, or None if it has none or does not exist."""
    dataset = dataset_or_none(db, name)
    return provenance_of(dataset.schema) if dataset is not None else None
