"""Fetching the rows of a batch of queries with one take gives what one take per query gives."""

from __future__ import annotations

import lance
import pyarrow as pa

from storage.fragments import take_rows, take_rows_for_each


def test_one_take_for_a_batch_equals_a_take_per_query_overlaps_and_empties_included(tmp_path):
    uri = str(tmp_path / "t.lance")
    lance.write_dataset(pa.table({"id": [f"r{i}" for i in range(50)], "n": list(range(50))}), uri,
                        max_rows_per_file=20)  # three fragments: row ids are not 0..49
    dataset = lance.dataset(uri)
    row_ids = dataset.to_table(columns=[], with_row_id=True).column("_rowid").to_numpy()
    lists = [row_ids[[3, 41, 7]], row_ids[[41, 3]], row_ids[[]], row_ids[[25, 25, 0]], row_ids[[49]]]
    batch = take_rows_for_each(dataset, lists, ["id", "n"])
    assert len(batch) == len(lists)
    for ids, rows in zip(lists, batch, strict=True):
        assert rows.to_pylist() == take_rows(dataset, ids, ["id", "n"]).to_pylist()
    assert batch[3].column("id").to_pylist() == ["r25", "r25", "r0"]
    assert batch[2].num_rows == 0 and batch[2].schema.names == ["id", "n"]
    assert take_rows_for_each(dataset, [], ["id"]) == []
