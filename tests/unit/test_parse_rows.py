import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from actors.config import ModelConfig
from jobs.embed.parse import (
    iter_line_chunks,
    parse_jsonl_lines,
    parse_text_lines,
    read_csv,
    read_file_tables,
    to_arrow_column,
)
from jobs.embed.rows import (
    cast_carried,
    content_hashes,
    fill_raw_records,
    row_keys,
    split_key,
    unify_schemas,
    unify_types,
    validate_rows,
)
from storage.provenance import config_fingerprint


def reasons(table):
    return dict(zip(table.column("_row").to_pylist(), table.column("_reject").to_pylist(), strict=True))


def test_jsonl_every_line_becomes_a_row_with_a_reason_when_unusable():
    lines = [json.dumps({"id": "a", "text": "fine", "k": 1}).encode(), b"", b"{broken",
             b"\xff\xfe", b"[1, 2]", json.dumps({"id": 3, "text": 5}).encode(),
             json.dumps({"id": True, "text": "x"}).encode(), json.dumps({"text": "no id"}).encode(),
             b'{"id": "s", "text": "\\ud800"}']
    table = validate_rows(parse_jsonl_lines(lines, 1, 0, "id", "text"))
    got = reasons(table)
    assert 2 not in got  # blank lines are not records
    assert got[1] is None
    assert got[3].startswith("invalid JSON")
    assert "UTF-8" in got[4]
    assert got[5] == "line is an array, not a JSON object"
    assert got[6] == "text is an integer, not a string"
    assert "boolean" in got[7]
    assert got[8] == "missing id"
    assert got[9] == "text has invalid Unicode"
    raws = dict(zip(table.column("_row").to_pylist(), table.column("_raw").to_pylist(), strict=True))
    assert raws[3] == "{broken" and raws[4] == "\\xff\\xfe"
    assert table.column("id").to_pylist()[4] == "3"  # integer ids become strings


def test_validation_rejects_null_and_empty_values():
    lines = [json.dumps(r).encode() for r in
             [{"id": "a", "text": ""}, {"id": "b", "text": "   \n"}, {"id": "", "text": "x"},
              {"id": "c", "text": None}, {"id": "d", "text": "ok"}]]
    got = list(reasons(validate_rows(parse_jsonl_lines(lines, 1, 0, "id", "text"))).values())
    assert got == ["empty text", "empty text", "empty id", "text is null", None]


def test_carried_columns_keep_types_and_fall_back_to_json_text():
    assert to_arrow_column([1, None, 3]).type == pa.int64()
    assert to_arrow_column([1, 2.5]).type == pa.float64()
    mixed = to_arrow_column([1, "x", {"a": 1}])
    assert mixed.type == pa.string() and mixed.to_pylist() == ["1", "x", '{"a": 1}']


def test_text_lines_get_stable_ids_and_bad_bytes_are_rejected():
    table = parse_text_lines([b"first", b"", b"third\r", b"\xc3("], 1, 2, "dir/a.txt")
    assert table.column("id").to_pylist() == ["dir/a.txt:1", "dir/a.txt:3", "dir/a.txt:4"]
    assert table.column("text").to_pylist()[:2] == ["first", "third"]
    assert "UTF-8" in table.column("_reject").to_pylist()[2]


def test_line_chunks_never_split_a_line_and_count_from_one():
    data = b"".join(f"line {i}\n".encode() for i in range(1000)) + b"tail"
    chunks = list(iter_line_chunks(io.BytesIO(data), 100))
    lines = [line for _, ls in chunks for line in ls]
    assert lines[0] == b"line 0" and lines[-1] == b"tail" and len(lines) == 1001
    first_numbers = [n for n, _ in chunks]
    assert first_numbers[0] == 1 and first_numbers == sorted(first_numbers)


def test_csv_short_long_and_undecodable_records_are_rejected_not_dropped():
    table = validate_rows(read_csv(b"id,text,year\n1,hello,2020\n2,a,b,c\n3,,2021\n", 0, "id", "text"))
    assert table.num_rows == 3
    got = table.column("_reject").to_pylist()
    assert got[0] is None and got[1] == "empty text" and got[2].startswith("CSV record has 4 fields")
    assert table.column("year").type == pa.int64()
    bad = read_csv(b"id,text\n1,ok\n2,\xff\xfe\n", 0, "id", "text")
    assert bad.column("_reject").to_pylist() == [None, "field 'text' is not valid UTF-8"]


def test_parquet_file_numbers_rows_across_batches():
    buffer = io.BytesIO()
    pq.write_table(pa.table({"doc": list(range(10)), "body": [f"t{i}" for i in range(10)]}), buffer,
                   row_group_size=3)
    tables = list(read_file_tables(pa.BufferReader(buffer.getvalue()), "parquet", 1, "f", "doc", "body",
                                   batch_rows=4))
    rows = [r for t in tables for r in t.column("_row").to_pylist()]
    assert rows == list(range(10))
    assert tables[0].column("id").to_pylist()[:2] == ["0", "1"]


def test_content_hash_depends_on_text_and_model_settings():
    fp = config_fingerprint(ModelConfig(model="m"))
    a = content_hashes(pa.array(["x", "y", None]), fp).to_pylist()
    assert a[0] != a[1] and a[2] is None and len(a[0]) == 32
    assert content_hashes(pa.array(["x"]), fp).to_pylist()[0] == a[0]
    other = config_fingerprint(ModelConfig(model="m", truncate_dim=64))
    assert content_hashes(pa.array(["x"]), other).to_pylist()[0] != a[0]


def test_row_keys_round_trip():
    table = pa.table({"_file": pa.array([0, 3], pa.int32()), "_row": pa.array([5, 2**39], pa.int64())})
    keys = row_keys(table)
    assert [split_key(int(k)) for k in keys] == [(0, 5), (3, 2**39)]


def test_unify_types_never_loses_values():
    assert unify_types([pa.int32(), pa.int64()]) == pa.int64()
    assert unify_types([pa.int64(), pa.float64(), pa.null()]) == pa.float64()
    assert unify_types([pa.int64(), pa.string()]) == pa.string()
    schema = unify_schemas([pa.schema([("y", pa.int64())]),
                            pa.schema([("y", pa.string()), ("z", pa.bool_())])])
    assert schema == pa.schema([("y", pa.string()), ("z", pa.bool_())])
    table = cast_carried(pa.table({"y": pa.array([1, None])}), schema)
    assert table.column("y").to_pylist() == ["1", None] and table.column("z").null_count == 2


def test_raw_record_is_filled_for_rejected_rows_only():
    table = pa.table({"id": ["a", "b"], "text": ["", "ok"], "k": [1, 2],
                      "_file": pa.array([0, 0], pa.int32()), "_row": pa.array([0, 1], pa.int64()),
                      "_reject": pa.array([None, None], pa.string()),
                      "_raw": pa.array([None, None], pa.string())})
    table = fill_raw_records(validate_rows(table))
    raws = table.column("_raw").to_pylist()
    assert json.loads(raws[0]) == {"id": "a", "text": "", "k": 1} and raws[1] is None


@pytest.mark.parametrize("path, fmt", [("a.jsonl", "jsonl"), ("a.JSONL.gz", "jsonl"),
                                       ("b.parquet", "parquet"), ("c.csv", "csv"), ("d.txt", "text"),
                                       ("e.bin", None)])
def test_detect_format(path, fmt):
    from jobs.embed.sources import detect_format

    assert detect_format(path) == fmt
