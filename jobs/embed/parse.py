"""Parse corpus files into Arrow tables with canonical `id`/`text`, carried columns and row provenance.

Every record read comes out as a row: a record that cannot be used (broken JSON, bad bytes,
wrong field count, a non-string text) still comes out, with the reason in `_reject` and the
original record in `_raw`, so that nothing read is lost.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FILE, ROW, REJECT, RAW = "_file", "_row", "_reject", "_raw"
# Serial CSV parsing numbers the records it skips, so their rejects can say where they were.
SERIAL = pacsv.ReadOptions(use_threads=False)
INTERNAL_COLUMNS = (FILE, ROW, REJECT, RAW)


def read_file_tables(f, fmt: str, file_index: int, name: str, id_column: str, text_column: str,
                     chunk_bytes: int = 16 << 20, batch_rows: int = 65536) -> Iterator[pa.Table]:
    """Yield the tables of one open file, in file order."""
    if fmt == "parquet":
        row = 0
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
            yield normalize_tabular(pa.Table.from_batches([batch]), row, file_index, id_column,
                                    text_column)
            row += batch.num_rows
    elif fmt == "csv":
        yield read_csv(strip_bom(f.read()), file_index, id_column, text_column)
    elif fmt in ("jsonl", "text"):
        for first_line, lines in iter_line_chunks(f, chunk_bytes):
            if first_line == 1:
                lines[0] = strip_bom(lines[0])
            if fmt == "jsonl":
                yield parse_jsonl_lines(lines, first_line, file_index, id_column, text_column)
            else:
                yield parse_text_lines(lines, first_line, file_index, name)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def strip_bom(data: bytes) -> bytes:
    """The bytes without a leading UTF-8 byte-order mark, as Python's 'utf-8-sig' reads them.

    Editors on Windows start UTF-8 files with one; left in, it turns the first JSON line into
    invalid JSON and the first text line into a text that starts with U+FEFF.
    """
    return data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data


def iter_line_chunks(f, chunk_bytes: int) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) per chunk; lines never split across chunks; numbers from 1."""
    remainder, line_no = b"", 1
    while True:
        chunk = f.read(chunk_bytes)
        if not chunk:
            break
        data = remainder + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            remainder = data
            continue
        lines, remainder = data[:cut].split(b"\n"), data[cut + 1:]
        yield line_no, lines
        line_no += len(lines)
    if remainder:
        yield line_no, [remainder]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def coerce_id(value, present: bool) -> tuple[str | None, str | None]:
    """An id as a string, or the reason it is unusable."""
    if isinstance(value, bool):
        return None, "id is a boolean, not a string or integer"
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, str):
        return (value, None) if _encodable(value) else (None, "id has invalid Unicode")
    if value is None:
        return None, "missing id" if not present else "id is null"
    return None, f"id is {_json_type(value)}, not a string or integer"


def coerce_text(value, present: bool) -> tuple[str | None, str | None]:
    """A text as a string, or the reason it is unusable."""
    if isinstance(value, str):
        return (value, None) if _encodable(value) else (None, "text has invalid Unicode")
    if value is None:
        return None, "missing text" if not present else "text is null"
    return None, f"text is {_json_type(value)}, not a string"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates from JSON escapes like "\ud800"
        return False


def _json_type(value) -> str:
    """'an object', 'a number'...: a JSON value's kind, for messages."""
    return {dict: "an object", list: "an array", float: "a number", int: "an integer",
            bool: "a boolean", str: "a string"}.get(type(value), f"a {type(value).__name__}")


def parse_jsonl_lines(lines: list[bytes], first_line: int, file_index: int, id_column: str,
                      text_column: str) -> pa.Table:
    """One row per non-blank line; broken lines become rejected rows with their raw bytes."""
    ids, texts, rows, rejects, raws, extras = [], [], [], [], [], []
    for offset, raw in enumerate(lines):
        if not raw.strip():
            continue
        record, reason = _parse_json_record(raw)
        if record is None:
            ids.append(None)
            texts.append(None)
            extras.append({})
        else:
            id_value, id_reason = coerce_id(record.get(id_column), id_column in record)
            text, text_reason = coerce_text(record.get(text_column), text_column in record)
            reason = id_reason or text_reason
            ids.append(id_value)
            texts.append(text if reason is None else None)
            extras.append({k: v for k, v in record.items() if k not in (id_column, text_column)})
        rows.append(first_line + offset)
        rejects.append(reason)
        raws.append(_decode(raw).rstrip("\r") if reason else None)
    return assemble(ids, texts, carried_columns(extras), file_index, rows, rejects, raws)


def _parse_json_record(raw: bytes) -> tuple[dict | None, str | None]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"line is not valid UTF-8 (byte {exc.start})"
    try:
        record = json.loads(line)
    except ValueError as exc:
        return None, f"invalid JSON: {getattr(exc, 'msg', exc)} (column {getattr(exc, 'colno', '?')})"
    if not isinstance(record, dict):
        return None, f"line is {_json_type(record)}, not a JSON object"
    return record, None


def parse_text_lines(lines: list[bytes], first_line: int, file_index: int, name: str) -> pa.Table:
    """One document per non-blank line; the id is 'name:line' so it is stable across runs."""
    ids, texts, rows, rejects, raws = [], [], [], [], []
    for offset, raw in enumerate(lines):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        line_no = first_line + offset
        try:
            text, reason = raw.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            text, reason = None, f"line is not valid UTF-8 (byte {exc.start})"
        ids.append(f"{name}:{line_no}")
        texts.append(text)
        rows.append(line_no)
        rejects.append(reason)
        raws.append(_decode(raw) if reason else None)
    return assemble(ids, texts, {}, file_index, rows, rejects, raws)


def carried_columns(records: list[dict]) -> dict[str, pa.Array]:
    """Columns for the fields other than id and text, in first-seen order."""
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    return {key: to_arrow_column([r.get(key) for r in records]) for key in keys}


def to_arrow_column(values: list) -> pa.Array:
    """Typed where the values agree; JSON text where they are nested or of mixed types."""
    if not any(isinstance(v, (dict, list)) for v in values):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError):
            pass
    return pa.array([None if v is None else v if isinstance(v, str) and _encodable(v)
                     else json.dumps(v) for v in values], pa.string())


def assemble(ids, texts, carried: dict[str, pa.Array], file_index: int, rows, rejects,
             raws) -> pa.Table:
    """Build the parsed table: id, text, carried..., then the internal provenance columns."""
    columns = {"id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())}
    columns.update(carried)
    columns[FILE] = pa.array(np.full(len(rows), file_index, dtype=np.int32))
    columns[ROW] = pa.array(rows, pa.int64())
    columns[REJECT] = pa.array(rejects, pa.string())
    columns[RAW] = pa.array(raws, pa.string())
    return pa.table(columns)


def normalize_tabular(table: pa.Table, first_row: int, file_index: int, id_column: str,
                      text_column: str) -> pa.Table:
    """Canonical id/text columns for a parquet or CSV table; rows numbered from first_row."""
    ids = table.column(id_column)
    ids = ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string())
    texts = table.column(text_column)
    texts = texts if pa.types.is_string(texts.type) else pc.cast(texts, pa.string())
    carried = {name: table.column(name) for name in table.column_names
               if name not in (id_column, text_column)}
    n = table.num_rows
    columns = {"id": ids, "text": texts, **carried,
               FILE: pa.array(np.full(n, file_index, dtype=np.int32)),
               ROW: pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
               REJECT: pa.nulls(n, pa.string()), RAW: pa.nulls(n, pa.string())}
    return pa.table(columns)


def read_csv(data: bytes, file_index: int, id_column: str, text_column: str) -> pa.Table:
    """Parse a whole CSV file; short or long records and undecodable fields become rejects."""
    if not data.strip():  # a 0-byte file has no header, which pyarrow refuses: it holds no rows
        return assemble([], [], {}, file_index, [], [], [])
    bad: list = []

    def keep_invalid(row) -> str:
        bad.append(row)
        return "skip"

    parse = pacsv.ParseOptions(invalid_row_handler=keep_invalid)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        good = _read_csv_bytes(data, parse, file_index, id_column, text_column)
        unmark = _unmark
    else:
        forced = {id_column: pa.string(), text_column: pa.string()}
        convert = pacsv.ConvertOptions(column_types=forced, strings_can_be_null=False)
        table = pacsv.read_csv(pa.py_buffer(data), read_options=SERIAL, parse_options=parse,
                               convert_options=convert)
        good = normalize_tabular(table, 0, file_index, id_column, text_column)
        unmark = str
    if not bad:
        return good
    # pyarrow numbers records from 1 with the header; a skipped record keeps its index, and the
    # rows after it are numbered as in the file, not as what was left.
    bad_rows = [r.number - 2 if r.number else -1 for r in bad]
    kept = np.setdiff1d(np.arange(good.num_rows + len(bad)), bad_rows)[:good.num_rows]
    good = good.set_column(good.schema.get_field_index(ROW), ROW, pa.array(kept, pa.int64()))
    rejected = assemble(
        [None] * len(bad), [None] * len(bad), {}, file_index, bad_rows,
        [f"CSV record has {r.actual_columns} fields, expected {r.expected_columns}"
         + (f" (line {r.number})" if r.number else "") for r in bad],
        [unmark(r.text) for r in bad])
    return pa.concat_tables([good, rejected], promote_options="default")


def _read_csv_bytes(data: bytes, parse, file_index: int, id_column: str,
                    text_column: str) -> pa.Table:
    """Fallback for files with undecodable bytes: parse them marked, reject a bad id or text."""
    # pyarrow cannot parse (or even report a malformed record holding) bytes that are not
    # UTF-8, so each such byte stands in as a private-use character until it is found again.
    marked = data.decode("utf-8", _MARK_BYTES).encode("utf-8")
    forced = {id_column: pa.string(), text_column: pa.string()}
    table = pacsv.read_csv(pa.py_buffer(marked), read_options=SERIAL, parse_options=parse,
                           convert_options=pacsv.ConvertOptions(column_types=forced,
                                                                strings_can_be_null=False))
    ids, texts, rejects, raws = [], [], [], []
    for row in table.to_pylist():
        bad = [c for c in (id_column, text_column) if _MARKS.search(row[c] or "")]
        ids.append(None if id_column in bad else row[id_column])
        texts.append(None if text_column in bad else row[text_column])
        rejects.append(f"field '{bad[0]}' is not valid UTF-8" if bad else None)
        raws.append(json.dumps({k: _unmark(v) if isinstance(v, str) else v for k, v in row.items()},
                               default=str) if bad else None)
    carried = {name: pa.array([_unmark(v) for v in table.column(name).to_pylist()], pa.string())
               if pa.types.is_string(table.schema.field(name).type) else table.column(name)
               for name in table.column_names if name not in (id_column, text_column)}
    return assemble(ids, texts, carried, file_index, list(range(table.num_rows)), rejects, raws)


_MARK_BYTES = "embedfleet-mark-bytes"
codecs.register_error(_MARK_BYTES, lambda e: ("".join(chr(0xF700 + b) for b in
                                                      e.object[e.start:e.end]), e.end))
_MARKS = re.compile("[\uf780-\uf7ff]")


def _unmark(text: str | None) -> str | None:
    """Marked bytes back as '\\xNN', as they show in a reject's record."""
    if text is None:
        return None
    return _MARKS.sub(lambda m: f"\\x{ord(m.group()) - 0xF700:02x}", text)
