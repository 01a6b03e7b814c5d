"""Hostile and broken input end to end: each row embedded or rejected with its reason, or a clear error."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from actors.query.actor import QueryActor
from jobs.embed.sources import SourceError
from jobs.errors import EmbedPassError, RunError
from storage.db import table_uri
from storage.names import TableNameError
from tests.support.embedding import dataset, embed

EXPLODES = "python:tests.support.fault_encoders:explodes_on_load"  # proves no model was loaded
SIZED = "python:tests.support.fault_encoders:sized_by_file"
MIXED = "family 👨‍👩‍👧 and 漢字かな and עברית שלום and مرحبا بالعالم"


def write_hostile_corpus(folder):
    """Every kind of broken record the formats allow, beside good rows that must survive."""
    folder.mkdir()
    lines = [json.dumps({"id": "1", "text": "first row", "topic": "plain"}),
             json.dumps({"id": "mixed-😀", "text": MIXED, "topic": "' OR '1'='1"}, ensure_ascii=False),
             json.dumps({"id": "nul", "text": "before\u0000after", "topic": "1; --"})]
    raw = [line.encode() for line in lines] + [
        b'{"id": "cut", "text": "a line cut sh', b"", b'{"id": "latin1", "text": "caf\xe9"}']
    (folder / "a.jsonl").write_bytes(b"\n".join(raw) + b"\n")
    (folder / "b.txt").write_bytes(b"plain line\nbad \xff byte\nraw \x00 nul\n" + MIXED.encode())
    (folder / "c.csv").write_bytes(b"id,text\nc1,fine\nc2,caf\xe9\nc3,too,many\n")
    # Integer ids in parquet become strings: 1 collides with "1" from a.jsonl.
    pq.write_table(pa.table({"id": [1, 2], "text": ["same id as a.jsonl's", "two"]}),
                   folder / "d.parquet")
    for empty in ("e.jsonl", "f.csv", "g.txt"):
        (folder / empty).write_bytes(b"")


def test_hostile_records_are_embedded_or_rejected_with_their_reason(ray_cluster, db, tmp_path,
                                                                   tiny_bert):
    write_hostile_corpus(tmp_path / "in")
    summary = embed(db, tmp_path / "in", model=tiny_bert)
    assert (summary.read, summary.embedded, summary.rejected) == (14, 8, 6) and summary.balanced()
    rejects = {(os.path.basename(r["source_file"]), r["source_row"]): (r["id"], r["reason"], r["record"])
               for r in dataset(db, "docs__rejects").to_table().to_pylist()}
    assert rejects[("a.jsonl", 4)][1].startswith("invalid JSON: Unterminated string")
    assert rejects[("a.jsonl", 4)][2] == '{"id": "cut", "text": "a line cut sh'
    assert rejects[("a.jsonl", 6)][1:] == ("line is not valid UTF-8 (byte 29)",
                                           '{"id": "latin1", "text": "caf\\xe9"}')
    assert rejects[("b.txt", 2)][:2] == ("b.txt:2", "line is not valid UTF-8 (byte 4)")
    assert rejects[("c.csv", 1)][:2] == ("c2", "field 'text' is not valid UTF-8")
    assert rejects[("c.csv", 2)][1:] == ("CSV record has 3 fields, expected 2 (line 4)", "c3,too,many")
    assert rejects[("d.parquet", 0)][:2] == ("1", f"duplicate id '1' (first seen in "
                                                  f"{tmp_path / 'in' / 'a.jsonl'} row 1)")
    data = dataset(db).to_table()
    texts = dict(zip(data.column("id").to_pylist(), data.column("text").to_pylist(), strict=True))
    assert texts == {"1": "first row", "mixed-😀": MIXED, "nul": "before\x00after",
                     "b.txt:1": "plain line", "b.txt:3": "raw \x00 nul", "b.txt:4": MIXED,
                     "c1": "fine", "2": "two"}  # stored exactly as read
    vectors = np.stack(data.column("vector").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)

    actor = QueryActor(db, "docs")
    assert [h.id for h in actor.search(MIXED, 10, [("topic", "=", "' OR '1'='1")])] == ["mixed-😀"]
    assert [h.id for h in actor.search(MIXED, 10, [("topic", "in", ["1; --"])])] == ["nul"]
    assert actor.search(MIXED, 10, [("topic", "=", "plain' OR 'x'='x")]) == []
    assert actor.search(MIXED, 1)[0].id in ("mixed-😀", "b.txt:4")


def test_broken_or_empty_sources_stop_the_run_before_any_model_loads(ray_cluster, db, tmp_path):
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(500)], "text": ["x" * 50] * 500}), whole)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(SourceError, match=r"cut\.parquet: cannot be read as parquet"):
        embed(db, cut, model=EXPLODES)
    (tmp_path / "zero.parquet").write_bytes(b"")
    with pytest.raises(SourceError, match=r"zero\.parquet: cannot be read as parquet"):
        embed(db, tmp_path / "zero.parquet", model=EXPLODES)
    (tmp_path / "none").mkdir()
    with pytest.raises(SourceError, match="no data files found"):
        embed(db, tmp_path / "none", model=EXPLODES)
    empties = tmp_path / "empties"
    empties.mkdir()
    for name in ("a.jsonl", "b.csv", "c.txt"):
        (empties / name).write_bytes(b"")
    (empties / "d.jsonl").write_text("\n  \n\n")
    with pytest.raises(RunError, match="empty corpus"):
        embed(db, empties, model=EXPLODES)
    assert not os.path.exists(table_uri(db, "docs"))


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "..", "docs__runs"])
def test_table_names_that_could_escape_the_database_are_refused(db, tmp_path, name):
    source = tmp_path / "c.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n')
    with pytest.raises(TableNameError, match="invalid table name"):
        embed(db, source, table=name, model=EXPLODES)
    assert not os.path.exists(db) and not (tmp_path / "escape.lance").exists()


def test_an_existing_table_with_another_dimension_is_refused(ray_cluster, db, tmp_path, faults):
    model = SIZED  # one model name, its vectors 32-dim now and 16-dim after, as a model rebuilt in place
    source = tmp_path / "c.jsonl"
    source.write_text("".join(json.dumps({"id": f"d{i}", "text": f"note {i}"}) + "\n"
                              for i in range(20)))
    faults.set_dim(32)
    embed(db, source, model=model)
    faults.set_dim(16)  # same name: now 16-dim vectors, known only once an actor loads it
    source.write_text(source.read_text() + '{"id": "new", "text": "a new note"}\n')
    for mode in ("append", "incremental"):
        # Append finds out when writing its first rows, incremental just before its commit.
        with pytest.raises((EmbedPassError, RunError),
                           match="16-dim vectors but table 'docs' holds 32-dim ones; use --mode rebuild"):
            embed(db, source, model=model, mode=mode)
    table = dataset(db)
    assert table.version == 1 and table.count_rows() == 20
