"""The one way tests run the embed job and read back what it stored."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def embed(db: str, paths, table: str = "docs", **settings):
    """Run the embed job in this process on one path or a list of them; its RunSummary."""
    from jobs.config import build_config
    from jobs.embed.run import run_embed

    paths = [paths] if isinstance(paths, str | os.PathLike) else paths
    return run_embed(build_config({"table": table, "db": db, "paths": [str(p) for p in paths],
                                   **settings}))


def dataset(db: str, table: str = "docs", version: int | None = None):
    """The table's Lance dataset, at its latest version or the one asked for."""
    import lance

    from storage.db import table_uri

    return lance.dataset(table_uri(db, table), version=version)


def stored(db: str, table: str = "docs"):
    """Every row of the table as a pyarrow Table."""
    return dataset(db, table).to_table()


def vectors_of(data, column: str = "vector") -> np.ndarray:
    """A fixed-size-list vector column as a 2-D float array."""
    dim = data.schema.field(column).type.list_size
    return np.asarray(data.column(column).combine_chunks().flatten()).reshape(data.num_rows, dim)


def wait_until(check, seconds: float = 20.0) -> bool:
    """Poll `check` until it holds or the time is up; its last answer."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(check())


def copy_db(source: str, folder: Path) -> str:
    """A private copy of a LanceDB folder, for tests that add versions or caches to it."""
    import shutil

    return str(shutil.copytree(source, folder / "db"))
