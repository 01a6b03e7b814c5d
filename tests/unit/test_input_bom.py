"""A UTF-8 byte-order mark at the start of a file is dropped (as 'utf-8-sig' does), not rejected."""

from __future__ import annotations

import codecs
import gzip
import io

import pyarrow as pa
import pytest

from jobs.embed.parse import read_file_tables, strip_bom
from jobs.embed.sources import check_sources, resolve_sources

BOM = codecs.BOM_UTF8
JSONL = b'{"id": "a", "text": "first row"}\n{"id": "b", "text": "second row"}\n'
CSV = b"id,text\na,first row\nb,second row\n"
TEXT = b"first row\nsecond row\n"


def parsed(data: bytes, fmt: str, chunk_bytes: int = 16 << 20) -> pa.Table:
    tables = list(read_file_tables(io.BytesIO(data), fmt, 0, "f.txt", "id", "text",
                                   chunk_bytes=chunk_bytes))
    return pa.concat_tables(tables)


@pytest.mark.parametrize("fmt, data", [("jsonl", JSONL), ("csv", CSV), ("text", TEXT)])
def test_a_leading_bom_is_dropped_in_every_line_format(fmt, data):
    with_bom, without = parsed(BOM + data, fmt), parsed(data, fmt)
    assert with_bom.column("_reject").null_count == with_bom.num_rows == 2
    assert with_bom.column("text").to_pylist() == ["first row", "second row"]
    assert with_bom.select(["id", "text", "_row"]).equals(without.select(["id", "text", "_row"]))
    if fmt != "text":
        assert with_bom.column("id").to_pylist() == ["a", "b"]


@pytest.mark.parametrize("fmt, data", [("jsonl", JSONL), ("text", TEXT)])
def test_the_bom_is_dropped_even_when_the_first_read_is_shorter_than_the_mark(fmt, data):
    table = parsed(BOM + data, fmt, chunk_bytes=2)
    assert table.column("text").to_pylist() == ["first row", "second row"]
    assert table.column("_reject").null_count == 2


def test_only_a_leading_bom_is_dropped():
    assert strip_bom(BOM + b"x") == b"x" and strip_bom(b"x" + BOM) == b"x" + BOM
    assert strip_bom(BOM + BOM + b"x") == BOM + b"x" and strip_bom(b"") == b""
    # A mark further down is part of that line's text, as Python's 'utf-8-sig' leaves it.
    later = parsed(b"first row\n" + BOM + b"second row\n", "text")
    assert later.column("text").to_pylist() == ["first row", "\ufeffsecond row"]


def test_a_gzipped_file_with_a_bom_is_read_through_the_decompressed_stream(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(BOM + JSONL))
    with pa.input_stream(str(path), compression="gzip") as f:  # how Ray Data opens it
        table = pa.concat_tables(read_file_tables(f, "jsonl", 0, "c.jsonl.gz", "id", "text"))
    assert table.column("id").to_pylist() == ["a", "b"] and table.column("_reject").null_count == 2


def test_the_column_check_before_the_run_sees_through_the_bom(tmp_path):
    (tmp_path / "a.csv").write_bytes(BOM + CSV)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(BOM + JSONL))
    (tmp_path / "c.txt").write_bytes(BOM + TEXT)
    sources = resolve_sources((str(tmp_path),), "auto")
    assert [s.format for s in sources] == ["csv", "jsonl", "text"]
    check_sources(sources, "id", "text")  # no "no column 'id'" for the CSV header
