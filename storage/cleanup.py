"""Leftovers of runs that died before committing: staging datasets and unreferenced data files.

A run that is killed (SIGKILL, a lost driver or head node) commits nothing, so readers never
see its files, but they stay on disk for a resume: its staging area (write records, an
incremental run's private dataset), and the fragment files its write tasks put into the
table's and the rejects table's folders. Running it again resumes it; `embedfleet cleanup`
discards them instead. Three rules keep that safe: a file that any version of the table
references is never removed (every version stays readable and restorable), only files older
than a cutoff go, and a staging area whose driver is alive (it holds the area's lock) stays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import lance
import pyarrow.fs as pafs

from storage.db import dataset_or_none, db_path, table_uri
from storage.names import companion, staging, validate_table_name
from storage.run_stage import RunStage, filesystem, is_in_use


@dataclass
class Leftovers:
    """What a cleanup found (or removed): staging folders, unreferenced data files, their size."""

    staging: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_dict(self) -> dict:
        """Plain data, for --json."""
        return {"staging": self.staging, "files": self.files, "bytes": self.bytes}


def _files(fs: pafs.FileSystem, path: str, recursive: bool) -> list[pafs.FileInfo]:
    selector = pafs.FileSelector(path, recursive=recursive, allow_not_found=True)
    return [f for f in fs.get_file_info(selector) if f.type == pafs.FileType.File]


def referenced_files(db: str, name: str) -> set[str]:
    """Data file names (relative to data/) that any version of a dataset references."""
    dataset = dataset_or_none(db, name)
    if dataset is None:
        return set()
    names = set()
    for version in dataset.versions():
        for fragment in lance.dataset(table_uri(db, name), version=version["version"]).get_fragments():
            names.update(f.path for f in fragment.data_files())
    return names


def find_leftovers(db: str, table: str, older_than_s: float) -> Leftovers:
    """Leftovers of `table` whose newest file is older than older_than_s seconds."""
    validate_table_name(table)
    cutoff = time.time() - older_than_s
    found = Leftovers()
    fs, root = filesystem(db_path(db))
    prefix = staging(table, "")
    for entry in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        base = entry.base_name
        if entry.type != pafs.FileType.Directory or not base.startswith(prefix):
            continue
        stage = RunStage(db, table, base[len(prefix):])
        manifest = stage.manifest()
        if manifest is not None and is_in_use(stage, manifest):
            continue  # a live run's area, however old its files: its driver holds the lock
        files = _files(fs, entry.path, recursive=True)
        if all(f.mtime.timestamp() < cutoff for f in files):
            found.staging.append(entry.path)
            found.bytes += sum(f.size for f in files)
    for name in (table, companion(table, "rejects")):
        referenced = referenced_files(db, name)
        for f in _files(fs, f"{filesystem(table_uri(db, name))[1]}/data", recursive=False):
            if f.base_name not in referenced and f.mtime.timestamp() < cutoff:
                found.files.append(f.path)
                found.bytes += f.size
    return found


def remove_leftovers(db: str, found: Leftovers) -> None:
    """Delete what find_leftovers returned."""
    fs, _ = filesystem(db_path(db))
    for path in found.staging:
        fs.delete_dir(path)
    for path in found.files:
        fs.delete_file(path)


def parse_age(text: str) -> float:
    """'0', '90', '90s', '30m', '12h', '7d' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale else text
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise ValueError(f"cannot read age {text!r}: use seconds or a number with s, m, h or d"
                         ) from None
    if seconds < 0:
        raise ValueError(f"age must not be negative, got {text!r}")
    return seconds
