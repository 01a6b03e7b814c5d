"""A real run over files that start with a UTF-8 byte-order mark: their first rows are embedded."""

from __future__ import annotations

import codecs
import gzip

from tests.support.embedding import embed, stored

BOM = codecs.BOM_UTF8


def test_first_rows_of_files_with_a_bom_are_embedded_not_rejected(ray_cluster, db, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.jsonl.gz").write_bytes(gzip.compress(
        BOM + b'{"id": "j1", "text": "first json row"}\n{"id": "j2", "text": "second json row"}\n'))
    (source / "b.csv").write_bytes(BOM + b"id,text\nc1,first csv row\nc2,second csv row\n")
    (source / "c.txt").write_bytes(BOM + b"first text row\nsecond text row\n")
    summary = embed(db, source, model="fake:16")
    assert (summary.read, summary.embedded, summary.rejected) == (6, 6, 0)
    rows = dict(zip(stored(db).column("id").to_pylist(), stored(db).column("text").to_pylist(),
                    strict=True))
    assert rows["j1"] == "first json row" and rows["c1"] == "first csv row"
    assert rows["c.txt:1"] == "first text row"
    assert not any(text.startswith("\ufeff") for text in rows.values())
