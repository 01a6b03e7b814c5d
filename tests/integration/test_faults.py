"""Faults inside the embedding pass on one node: a row the model rejects, a row that kills it."""

from __future__ import annotations

import numpy as np
import pytest

from actors.encoders.fake import HashingEncoder
from actors.vectors import postprocess
from jobs.errors import EmbedPassError
from storage.runs import list_runs
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import dataset, embed

ONE_ACTOR = {"batch_size": 10, "actors": 1}


def test_a_poisoned_row_is_rejected_and_the_rest_of_its_batch_embedded(ray_cluster, db, tmp_path):
    records = corpus_records(50)
    records[17]["text"] = "POISON pill inside an ordinary batch"
    summary = embed(db, write_jsonl(tmp_path / "c.jsonl", records),
                    model="python:tests.support.fault_encoders:poisoned_rows", **ONE_ACTOR)
    assert (summary.read, summary.embedded, summary.rejected) == (50, 49, 1)
    (reject,) = dataset(db, "docs__rejects").to_table().to_pylist()
    assert reject["id"] == "doc-0017" and reject["source_row"] == 18
    assert reject["reason"] == "encoder failed on this row: ValueError: cannot encode poisoned text"
    data = dataset(db).to_table().sort_by("id")
    clean = [r for r in records if r["id"] != "doc-0017"]
    assert data.column("id").to_pylist() == [r["id"] for r in clean]
    expected = postprocess(HashingEncoder(16).embed([r["text"] for r in clean]), None, "float32")
    stored = np.stack(data.column("vector").to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(stored, expected)  # the poisoned row's batch mates included


def test_a_row_that_kills_its_process_fails_the_run_instead_of_retrying_forever(ray_cluster, db,
                                                                                 tmp_path):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(20))
    model = "python:tests.support.fault_encoders:crashes_on_marker"
    embed(db, source, model=model, **ONE_ACTOR)
    records = corpus_records(20) + [{"id": "boom", "text": "CRASH the worker"}]
    with pytest.raises(EmbedPassError, match=r"embedder actor died and was not restarted"):
        embed(db, write_jsonl(source, records), model=model, mode="overwrite", **ONE_ACTOR)
    assert dataset(db).version == 1
    assert [r["status"] for r in list_runs(db, "docs")] == ["succeeded", "failed"]
