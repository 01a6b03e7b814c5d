"""A run's own staging area: its plan files, the records of finished write tasks, its manifest.

It lives beside the table, on the table's filesystem (so every worker reaches it), as
`<table>__staging_<stage id>/`:

    run.json         manifest: stage id, table, mode, model fingerprint, the runs that used it
    lock             held (flock) by the live driver on a local filesystem
    plan/<run id>/   the planning pass's hash-partitioned files (keys, table rows, decisions)
    written/         one record per finished write task: its rows (id, content_hash) in a
                     Parquet file whose metadata lists the fragments that hold them
    rows.lance       incremental runs: the private dataset upserted in the commit

A run that dies leaves the area behind; running the same command again finds it and reuses
every record whose rows are still wanted. A committed run removes its area.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from storage.db import db_path
from storage.names import staging

HEARTBEAT_S = 15.0  # how often a live driver on an object store touches its manifest
DEAD_AFTER_S = 60.0  # a manifest untouched this long (object stores) belongs to a dead driver
RECORD_META = b"embedfleet.record"


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path on it, for a local path or any URI."""
    return pafs.FileSystem.from_uri(uri if "://" in uri else f"file://{os.path.abspath(uri)}")


def write_parquet_atomically(table: pa.Table, uri: str, row_group_rows: int = 65536) -> None:
    """Write a Parquet file that readers see whole or not at all (temporary name, then a move)."""
    fs, path = filesystem(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    pq.write_table(table, tmp, filesystem=fs, row_group_size=row_group_rows)
    fs.move(tmp, path)


def parquet_files(uri: str) -> list[str]:
    """Finished Parquet files under a folder (temporaries excluded), sorted; [] if none."""
    fs, path = filesystem(uri)
    selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
    found = [f.path for f in fs.get_file_info(selector)
             if f.type == pafs.FileType.File and f.path.endswith(".parquet")]
    prefix = uri[: len(uri) - len(path)] if uri.endswith(path) else ""
    return sorted(prefix + p for p in found)


def read_parquet_folder(uri: str) -> pa.Table | None:
    """Every finished Parquet file under a folder as one table; None if there is none."""
    files = parquet_files(uri)
    if not files:
        return None
    fs, _ = filesystem(uri)
    return pa.concat_tables([pq.read_table(filesystem(f)[1], filesystem=fs) for f in files],
                            promote_options="default")


def remove_tree(uri: str) -> None:
    """Delete a folder and everything in it; a missing one is fine."""
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)


@dataclass
class WriteRecord:
    """What one finished write task left: its rows' count and the fragments holding them."""

    record: str
    run_id: str
    rows: int
    fragments: list[str] = field(default_factory=list)
    reject_fragments: list[str] = field(default_factory=list)
    dim: int | None = None
    native_dim: int | None = None

    def to_json(self) -> bytes:
        """The record's metadata as JSON bytes, stored in its Parquet file."""
        return json.dumps(self.__dict__).encode()


@dataclass
class RunStage:
    """The staging area of one run (and of the runs that resume it)."""

    db: str
    table: str
    stage_id: str

    @property
    def uri(self) -> str:
        """The area's folder."""
        return f"{db_path(self.db).rstrip('/')}/{staging(self.table, self.stage_id)}"

    @property
    def plan_uri(self) -> str:
        """Folder of the planning files of the runs using this area."""
        return f"{self.uri}/plan"

    def plan_root(self, run_id: str) -> str:
        """Folder of one run's planning files."""
        return f"{self.plan_uri}/{run_id}"

    @property
    def written_uri(self) -> str:
        """Folder of the write records."""
        return f"{self.uri}/written"

    @property
    def rows_uri(self) -> str:
        """The private dataset an incremental run upserts from."""
        return f"{self.uri}/rows.lance"

    def write_manifest(self, manifest: dict) -> None:
        """Write run.json (whole or not at all)."""
        fs, path = filesystem(f"{self.uri}/run.json")
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
        with fs.open_output_stream(tmp) as out:
            out.write(json.dumps({**manifest, "heartbeat": time.time()}).encode())
        fs.move(tmp, path)

    def manifest(self) -> dict | None:
        """run.json, or None when the area has none (not a resumable run's area)."""
        fs, path = filesystem(f"{self.uri}/run.json")
        try:
            with fs.open_input_stream(path) as stream:
                return json.loads(stream.read())
        except (FileNotFoundError, OSError, ValueError):
            return None

    def write_record(self, rows: pa.Table, record: WriteRecord) -> None:
        """Record a finished write task's rows (id, content_hash) and fragments, durably."""
        meta = {RECORD_META: record.to_json()}
        table = rows.append_column("record", pa.array([record.record] * rows.num_rows, pa.string()))
        write_parquet_atomically(table.replace_schema_metadata(meta),
                                 f"{self.written_uri}/{record.record}.parquet")

    def records(self) -> list[WriteRecord]:
        """Every finished write task's record (metadata only, no rows read)."""
        out = []
        fs, _ = filesystem(self.uri)
        for uri in parquet_files(self.written_uri):
            meta = pq.read_schema(filesystem(uri)[1], filesystem=fs).metadata or {}
            if RECORD_META in meta:
                out.append(WriteRecord(**json.loads(meta[RECORD_META])))
        return out

    def remove_record(self, record: str) -> None:
        """Forget one write record (its fragments are removed separately)."""
        fs, path = filesystem(f"{self.written_uri}/{record}.parquet")
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(path)

    def remove(self) -> None:
        """Delete the whole area."""
        remove_tree(self.uri)


class StageLease:
    """Marks a staging area as in use by a live driver until released (or the process dies)."""

    def __init__(self, stage: RunStage):
        self.stage, self._fd, self._stop = stage, None, None
        if "://" not in stage.uri:
            import fcntl

            os.makedirs(stage.uri, exist_ok=True)
            self._fd = os.open(f"{stage.uri}/lock", os.O_CREAT | os.O_RDWR)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: in use
        else:
            self._stop = _heartbeat(stage)

    def release(self) -> None:
        """Let the area go (kept on disk; another run may resume it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._stop is not None:
            self._stop.set()


def _heartbeat(stage: RunStage):
    import threading

    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_S):
            manifest = stage.manifest()
            if manifest is not None:
                stage.write_manifest(manifest)

    threading.Thread(target=beat, daemon=True, name="stage-heartbeat").start()
    return stop


def is_in_use(stage: RunStage, manifest: dict) -> bool:
    """True while a live driver holds the area (a lock here, a fresh heartbeat on object stores)."""
    if "://" in stage.uri:
        return time.time() - manifest.get("heartbeat", 0) < DEAD_AFTER_S
    import fcntl

    try:
        fd = os.open(f"{stage.uri}/lock", os.O_CREAT | os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def unfinished_stages(db: str, table: str) -> list[tuple[RunStage, dict]]:
    """Staging areas of this table left by runs that died (not in use), newest first."""
    fs, root = filesystem(db_path(db))
    prefix = staging(table, "")
    found = []
    for entry in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        if entry.type != pafs.FileType.Directory or not entry.base_name.startswith(prefix):
            continue
        stage = RunStage(db, table, entry.base_name[len(prefix):])
        manifest = stage.manifest()
        if manifest is not None and manifest.get("table") == table and not is_in_use(stage, manifest):
            found.append((stage, manifest))
    return sorted(found, key=lambda s: s[1].get("started", ""), reverse=True)


def remove_fragment_files(dataset_uri: str, fragments: list[str]) -> None:
    """Delete the data files of uncommitted fragments (a run's leftovers it will not commit)."""
    from lance.fragment import FragmentMetadata

    fs, root = filesystem(dataset_uri)
    for serialized in fragments:
        for data_file in FragmentMetadata.from_json(serialized).data_files():
            with contextlib.suppress(FileNotFoundError):
                fs.delete_file(f"{root}/data/{data_file.path}")


def fragment_files_exist(dataset_uri: str, fragments: list[str]) -> bool:
    """True if every data file of these fragments is still on disk (cleanup may have run)."""
    from lance.fragment import FragmentMetadata

    fs, root = filesystem(dataset_uri)
    paths = [f"{root}/data/{d.path}" for s in fragments
             for d in FragmentMetadata.from_json(s).data_files()]
    return all(info.type == pafs.FileType.File for info in fs.get_file_info(paths))
