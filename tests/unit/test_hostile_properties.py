"""Generated hostile input: parsers never lose or invent a record, filters never run a value as SQL."""

from __future__ import annotations

import csv
import io
import json

import lance
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from actors.query.filters import FilterError, render_filter
from jobs.embed.parse import iter_line_chunks, parse_jsonl_lines, parse_text_lines, read_csv
from jobs.embed.rows import validate_rows

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(), st.text(),
                                                                             max_size=2))
RECORDS = st.dictionaries(st.sampled_from(["id", "text", "topic", "year"]), JSON_VALUES)
LINES = st.lists(st.one_of(
    RECORDS.map(lambda r: json.dumps(r).encode()),
    RECORDS.map(lambda r: json.dumps(r, ensure_ascii=False).encode()),
    st.binary().map(lambda b: b.replace(b"\n", b"")),
    st.text().map(lambda t: t.replace("\n", "").encode("utf-8", "surrogatepass"))), max_size=20)


def check_one_row_per_line(table: pa.Table, lines: list[bytes], first: int) -> None:
    expected = [first + i for i, line in enumerate(lines) if line.strip()]
    assert table.column("_row").to_pylist() == expected
    for row in validate_rows(table).to_pylist():
        if row["_reject"] is None:
            assert isinstance(row["id"], str) and row["id"] and row["text"].strip()
            row["text"].encode("utf-8")  # what is kept can be stored


@SETTINGS
@given(lines=LINES, first=st.integers(1, 10**6))
def test_every_json_line_is_one_row_or_blank(lines, first):
    table = parse_jsonl_lines(lines, first, 0, "id", "text")
    check_one_row_per_line(table, lines, first)
    for row, line in zip(table.to_pylist(), [x for x in lines if x.strip()], strict=True):
        if row["_reject"] is not None:  # a reject keeps the line as it was, bad bytes escaped
            assert row["_raw"] == line.decode("utf-8", "backslashreplace").rstrip("\r")


@SETTINGS
@given(lines=LINES, first=st.integers(1, 10**6))
def test_every_text_line_is_one_row_or_blank(lines, first):
    lines = [line.rstrip(b"\r") for line in lines]
    check_one_row_per_line(parse_text_lines(lines, first, 0, "f.txt"), lines, first)


@SETTINGS
@given(data=st.binary(max_size=300), chunk=st.integers(1, 64))
def test_line_chunks_never_split_or_drop_a_line(data, chunk):
    chunks = list(iter_line_chunks(io.BytesIO(data), chunk))
    lines = [line for _, part in chunks for line in part]
    assert b"\n".join(lines) == data.removesuffix(b"\n") or (data == b"" and lines == [])
    numbers = [n for n, _ in chunks]
    assert numbers == sorted(numbers) and (not numbers or numbers[0] == 1)


FIELD = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@SETTINGS
@given(records=st.lists(st.lists(FIELD, min_size=1, max_size=4), max_size=12))
def test_every_csv_record_is_one_row(records):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["id", "text", "topic"])
    writer.writerows(records)
    table = read_csv(buffer.getvalue().encode(), 0, "id", "text")
    assert sorted(table.column("_row").to_pylist()) == list(range(len(records)))
    by_row = {r["_row"]: r for r in table.to_pylist()}
    for i, fields in enumerate(records):
        if len(fields) == 3:
            assert (by_row[i]["id"], by_row[i]["text"]) == (fields[0], fields[1])
        else:
            assert by_row[i]["_reject"].startswith(f"CSV record has {len(fields)} fields")


@SETTINGS
@given(body=st.binary(max_size=200))
def test_no_csv_bytes_raise_past_the_parser(body):
    table = read_csv(b"id,text\n" + body, 0, "id", "text")
    assert set(table.column_names) >= {"id", "text", "_row", "_reject"}


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
    return tmp_path_factory.mktemp("filters")


INJECTIONS = ["' OR '1'='1", "1; --", "x') OR (1=1", "a`b", "\\'", "\\", "''", "%", "_"]


@SETTINGS
@given(value=st.one_of(st.sampled_from(INJECTIONS), st.text()), n=st.integers(0, 10**6))
def test_a_filter_value_matches_only_itself(topics, value, n):
    assume("\x00" not in value)
    others = ["space", *INJECTIONS]
    data = pa.table({"topic": [value, *others], "year": list(range(len(others) + 1))})
    uri = str(topics / f"t{n}.lance")
    dataset = lance.write_dataset(data, uri, mode="overwrite")
    where = render_filter([("topic", "=", value)], data.schema)
    got = dataset.to_table(filter=where).column("topic").to_pylist()
    assert got == [t for t in data.column("topic").to_pylist() if t == value]
    where = render_filter([("topic", "in", [value, "space"])], data.schema)
    assert dataset.count_rows(filter=where) == sum(t in (value, "space") for t in [value, *others])


@SETTINGS
@given(value=st.one_of(st.integers(), st.text(max_size=8), st.floats()))
def test_a_number_filter_is_a_number_or_a_clear_error(topics, value):
    data = pa.table({"year": [1, 2, 3]})
    dataset = lance.write_dataset(data, str(topics / "years.lance"), mode="overwrite")
    try:
        where = render_filter([("year", "=", value)], data.schema)
    except FilterError:
        return
    expected = sum(float(value) == y for y in (1, 2, 3))
    assert dataset.count_rows(filter=where) == expected


def test_the_smallest_int64_is_found_not_refused(tmp_path):
    # The parser reads a plain -9223372036854775808 as a float that int64 refuses (found by
    # the number property above); as a difference it stays an exact int64.
    data = pa.table({"year": pa.array([1, -(2**63), 3], pa.int64())})
    dataset = lance.write_dataset(data, str(tmp_path / "years.lance"))
    for op, value, rows in [("=", -(2**63), 1), ("in", [-(2**63), 3], 2), (">", -(2**63), 2)]:
        assert dataset.count_rows(filter=render_filter([("year", op, value)], data.schema)) == rows


def test_integer_filters_are_exact_and_bounded():
    schema = pa.schema([("year", pa.int64()), ("small", pa.uint8())])
    assert render_filter([("year", "=", 2**53 + 1)], schema) == "`year` = 9007199254740993"
    assert render_filter([("year", "=", "2020.0")], schema) == "`year` = 2020"
    assert render_filter([("year", "=", " 2020 ")], schema) == "`year` = 2020"
    # A control character is not whitespace to int() or float(): refused, as a float column does.
    for column, value in [("year", 2**63), ("year", "1e30"), ("small", -1), ("small", 256),
                          ("year", "0\x1f")]:
        with pytest.raises(FilterError, match="does not fit"):
            render_filter([(column, "=", value)], schema)


@SETTINGS
@given(name=st.text(max_size=12))
def test_an_accepted_table_name_stays_inside_the_database(tmp_path, name):
    import os

    from storage.db import table_uri
    from storage.names import COMPANIONS, TableNameError, companion, validate_table_name

    try:
        validate_table_name(name)
    except TableNameError:
        return
    for table in [name, *(companion(name, kind) for kind in COMPANIONS)]:
        path = os.path.normpath(table_uri(str(tmp_path), table))
        assert os.path.dirname(path) == str(tmp_path) and path.endswith(".lance")
