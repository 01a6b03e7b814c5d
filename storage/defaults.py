"""Defaults the storage layer owns, in a module light enough for every command's parser to import."""

from __future__ import annotations

import os

DEFAULT_DB = "./lancedb"
DB_ENV = "EMBEDFLEET_DB"
INDEX_KINDS = ("ivf_pq", "hnsw")
DEFAULT_INDEX_KIND = "ivf_pq"


def default_db() -> str:
    """The database folder when none is given: $EMBEDFLEET_DB, else ./lancedb."""
    return os.environ.get(DB_ENV) or DEFAULT_DB
