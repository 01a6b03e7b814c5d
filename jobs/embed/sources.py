"""Corpus files: expand paths, directories and globs; detect formats; check them before any model loads."""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from storage.errors import UserError
from storage.schema import CHUNK_COLUMNS, OWN_COLUMNS

_EXTENSIONS = {
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".csv": "csv",
    ".txt": "text", ".text": "text",
}
_COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
# Columns embedfleet writes itself; a source column of the same name would be overwritten.
RESERVED_COLUMNS = set(OWN_COLUMNS)


class SourceError(UserError, ValueError):
    """A corpus file is missing, unreadable, of an unknown format, or lacks a needed column."""


@dataclass(frozen=True)
class SourceFile:
    """One corpus file: where it is, how to parse it, and the short name used in text ids."""

    index: int
    path: str
    name: str
    format: str
    size: int


def detect_format(path: str) -> str | None:
    """Format from the extension, looking through a compression suffix ('a.jsonl.gz' -> jsonl)."""
    lower = path.lower()
    for suffix in _COMPRESSIONS:
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
    return _EXTENSIONS.get(os.path.splitext(lower)[1])


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))


def _hidden(name: str) -> bool:
    # Same rule as Ray Data's listing: '_SUCCESS', '.crc' and friends are not data.
    return os.path.basename(name).startswith(("_", "."))


def _expand_one(arg: str) -> list[tuple[str, str, int]]:
    """(full path, short name, size) for every data file one argument names."""
    fs, path = _filesystem(arg)
    if "://" not in arg and glob.has_magic(path):
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise SourceError(f"no files match {arg}")
        root = path.split("*")[0].rsplit(os.sep, 1)[0]
        return [(m, os.path.relpath(m, root), os.path.getsize(m))
                for m in matches if os.path.isfile(m) and not _hidden(m)]
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise SourceError(f"source not found: {arg}")
    if info.type == pafs.FileType.File:
        return [(_uri(arg, path), os.path.basename(path), info.size)]
    entries = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    files = [e for e in entries if e.type == pafs.FileType.File
             and not any(_hidden(part) for part in os.path.relpath(e.path, path).split("/"))]
    return sorted((_uri(arg, e.path), os.path.relpath(e.path, path), e.size) for e in files)


def _uri(arg: str, path: str) -> str:
    return f"{arg.split('://', 1)[0]}://{path}" if "://" in arg else path


def resolve_sources(args: tuple[str, ...], fmt: str) -> list[SourceFile]:
    """Every data file the arguments name, in a stable order, each with its format."""
    seen: dict[str, SourceFile] = {}
    for arg in args:
        for path, name, size in _expand_one(arg):
            if path in seen:
                continue
            file_format = fmt if fmt != "auto" else detect_format(path)
            if file_format is None:
                raise SourceError(
                    f"{path}: cannot tell the format from the extension; "
                    "pass --format parquet|jsonl|csv|text")
            seen[path] = SourceFile(len(seen), path, name, file_format, size)
    if not seen:
        raise SourceError(f"no data files found in {', '.join(args)}")
    return list(seen.values())


def _head_columns(source: SourceFile) -> list[str] | None:
    """Column names a file declares up front, or None where records declare their own."""
    fs, path = _filesystem(source.path)
    if source.format == "parquet":
        with fs.open_input_file(path) as f:
            return pq.ParquetFile(f).schema_arrow.names
    if source.format == "text":
        with fs.open_input_stream(path, compression="detect") as f:
            f.read(1024)
        return None
    with fs.open_input_stream(path, compression="detect") as f:
        head = f.read(1 << 20)
    lines = [line for line in head.split(b"\n") if line.strip()]
    if source.format == "csv":
        if not lines:
            return []
        import pyarrow.csv as pacsv

        return pacsv.read_csv(pa.py_buffer(lines[0] + b"\n")).column_names
    for line in lines:  # jsonl: the first record that parses stands for the file
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            return list(record)
    return None


def check_source(source: SourceFile, id_column: str, text_column: str,
                 chunked: bool = False, header: str | None = None) -> None:
    """Raise a SourceError naming the file and column if this file cannot feed the run."""
    try:
        columns = _head_columns(source)
    except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
        raise SourceError(f"{source.path}: cannot be read as {source.format}: {exc}") from exc
    if columns is None:
        return
    if source.size == 0 or (source.format == "csv" and not columns):
        return
    needed = [text_column] if source.format == "text" else [id_column, text_column]
    for column in needed:
        if column not in columns:
            raise SourceError(
                f"{source.path}: no column '{column}' (found: {', '.join(columns) or 'none'}); "
                f"set --{'id' if column == id_column else 'text'}-column")
    if header in (id_column, text_column):
        raise SourceError(f"--chunk-header {header!r} is the id or text column of {source.path}; "
                          "name a carried column (a title, say)")
    if header is not None and header not in columns:
        raise SourceError(f"{source.path}: no column '{header}' for --chunk-header "
                          f"(found: {', '.join(columns) or 'none'})")
    for column in columns:
        if column in (id_column, text_column):
            continue
        if column in RESERVED_COLUMNS or column.startswith("_"):
            raise SourceError(
                f"{source.path}: column '{column}' collides with a column embedfleet writes "
                "(or starts with '_'); rename it in the source")
        if chunked and column in CHUNK_COLUMNS:
            raise SourceError(f"{source.path}: column '{column}' collides with a column of a "
                              "chunked table (doc_id, chunk, start, end); rename it in the source")
    if source.format == "parquet":
        _check_parquet_types(source, id_column, text_column)


def _check_parquet_types(source: SourceFile, id_column: str, text_column: str) -> None:
    fs, path = _filesystem(source.path)
    with fs.open_input_file(path) as f:
        schema = pq.ParquetFile(f).schema_arrow
    text_type = schema.field(text_column).type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
        raise SourceError(f"{source.path}: column '{text_column}' has type {text_type}, not string")
    id_type = schema.field(id_column).type
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type)
            or pa.types.is_integer(id_type)):
        raise SourceError(f"{source.path}: column '{id_column}' has type {id_type}; "
                          "ids must be strings or integers")


def check_sources(sources: list[SourceFile], id_column: str, text_column: str,
                  chunked: bool = False, header: str | None = None) -> None:
    """Check every file; the first problem stops the run before any model loads."""
    for source in sources:
        check_source(source, id_column, text_column, chunked, header)
