"""The distributed plan's pure logic: id buckets, duplicates, the diff, dead-run records."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from jobs.embed.buckets import DUPLICATE, EMBED, UNCHANGED, id_buckets, plan_bucket, split_by_bucket
from jobs.embed.changes import ChangeError, id_filter
from jobs.embed.plan import RowPlan
from jobs.embed.stages import apply_decisions


def source(ids, keys, hashes=None, valid=None):
    n = len(ids)
    return pa.table({"id": pa.array(ids, pa.string()), "key": pa.array(keys, pa.int64()),
                     "valid": pa.array(valid if valid is not None else [True] * n),
                     "content_hash": pa.array(hashes or [f"h-{i}" for i in ids], pa.string())})


def decided(plan):
    d = plan.decisions
    return {k: (a, r) for k, a, r in zip(d.column("key").to_pylist(), d.column("action").to_pylist(),
                                          d.column("record").to_pylist(), strict=True)}


def test_buckets_are_stable_spread_and_keep_an_id_together():
    ids = pa.array([f"doc-{i}" for i in range(20000)] + ["", "ü✓", "doc-1"])
    buckets = id_buckets(ids, 16)
    assert buckets.tolist() == id_buckets(ids, 16).tolist()  # no per-process hash seed
    assert buckets[1] == buckets[-1] and buckets.min() >= 0 and buckets.max() < 16
    counts = np.bincount(buckets[:20000], minlength=16)
    assert counts.min() > 20000 / 16 * 0.8  # even enough that no bucket task holds much more
    # A slice (non-zero offset) and chunks hash as the whole array does.
    assert id_buckets(ids.slice(5, 10), 16).tolist() == buckets[5:15].tolist()
    chunked = pa.chunked_array([ids.slice(0, 7), ids.slice(7)])
    assert id_buckets(chunked, 16).tolist() == buckets.tolist()
    parts = split_by_bucket(pa.table({"id": ids}), 16)
    assert sum(p.num_rows for p in parts.values()) == len(ids)
    assert all(set(id_buckets(p.column("id"), 16)) == {b} for b, p in parts.items())


def test_duplicates_keep_the_first_occurrence_by_file_then_row():
    keys = [(1 << 40) | 0, 1, 2, 3, 4, (2 << 40) | 7]
    plan = plan_bucket(source(["a", "b", "a", "c", "a", "b"], keys), ["f0", "f1", "f2"])
    reasons = dict(zip(plan.decisions.column("key").to_pylist(),
                       plan.decisions.column("reason").to_pylist(), strict=True))
    assert sorted(k for k, (a, _) in decided(plan).items() if a == DUPLICATE) == [
        4, 1 << 40, (2 << 40) | 7]
    assert reasons[1 << 40] == "duplicate id 'a' (first seen in f0 row 2)"
    assert "first seen in f0 row 1" in reasons[(2 << 40) | 7]
    assert plan.duplicates == 3 and plan.decisions.column("key").to_pylist() == sorted(keys)


def test_rejected_rows_are_not_planned_but_their_ids_are_not_gone():
    rows = source(["a", "a", "b", "z"], [1, 2, 4, 5], valid=[True, True, True, False])
    table = pa.table({"id": ["z", "gone"], "content_hash": ["x", "y"]})
    plan = plan_bucket(rows, ["f"], table, delete_missing=True)
    assert decided(plan) == {1: (EMBED, None), 2: (DUPLICATE, None), 4: (EMBED, None)}
    assert plan.gone.column("id").to_pylist() == ["gone"]


def test_diff_skips_unchanged_updates_changed_inserts_new_and_lists_missing():
    rows = source(["a", "b", "c", "dup"], [5, 1, 9, 10], ["h1", "NEW", "h3", "h4"])
    table = pa.table({"id": ["a", "b", "gone", "also'gone"], "content_hash": ["h1", "h2", "x", "y"]})
    plan = plan_bucket(rows, ["f"], table, delete_missing=True)
    assert decided(plan)[5] == (UNCHANGED, None)
    assert (plan.unchanged, plan.changed, plan.new) == (1, 1, 2)
    missing = sorted(plan.gone.column("id").to_pylist())
    assert missing == ["also'gone", "gone"]
    assert plan_bucket(rows, ["f"], table, delete_missing=False).gone.num_rows == 0
    assert id_filter(missing) == "id IN ('also''gone', 'gone')"


def test_a_table_with_repeated_ids_cannot_be_updated_row_by_row():
    table = pa.table({"id": ["a", "a"], "content_hash": ["h", "h"]})
    with pytest.raises(ChangeError, match="more than once.*--mode rebuild"):
        plan_bucket(source(["a"], [0]), ["f"], table)


def test_a_dead_runs_record_matches_rows_still_to_embed_with_the_same_hash():
    rows = source(["a", "b", "c", "d"], [1, 2, 3, 4], ["ha", "hb", "hc-new", "hd"])
    table = pa.table({"id": ["d"], "content_hash": ["hd"]})  # d is unchanged: not to embed
    records = pa.table({"id": ["a", "b", "c", "d"], "content_hash": ["ha", "hb", "hc-old", "hd"],
                        "record": ["r1", "r1", "r2", "r3"]})
    plan = plan_bucket(rows, ["f"], table, records)
    matched = dict(zip(plan.records.column("record").to_pylist(),
                       plan.records.column("matched").to_pylist(), strict=True))
    assert matched == {"r1": 2}  # r2's text changed, r3's row is unchanged in the table
    assert decided(plan) == {1: (EMBED, "r1"), 2: (EMBED, "r1"), 3: (EMBED, None),
                             4: (UNCHANGED, None)}


def test_decisions_drop_unchanged_and_reused_rows_and_reject_duplicates():
    block = pa.table({"id": ["a", "b", "c", "a", "e"], "text": ["t"] * 5,
                      "_file": pa.array([0] * 5, pa.int32()), "_row": pa.array([1, 2, 3, 4, 5]),
                      "_reject": pa.array([None] * 5, pa.string())})
    decisions = pa.table({"key": pa.array([1, 2, 3, 4, 5], pa.int64()),
                          "action": [EMBED, UNCHANGED, EMBED, DUPLICATE, EMBED],
                          "reason": [None, None, None, "duplicate id 'a' (...)", None],
                          "record": [None, None, "r1", None, "r2"]})
    out = apply_decisions(block, decisions, frozenset({"r1"}))
    assert out.column("id").to_pylist() == ["a", "a", "e"]
    assert out.column("_reject").to_pylist() == [None, "duplicate id 'a' (...)", None]
    plan = RowPlan(read=5, rejected_on_read=0, duplicates=1, skipped=1, resumed=1)
    assert (plan.to_embed, plan.to_read_again, plan.needs_decisions) == (2, 3, True)


def test_decide_tasks_take_every_bucket_once_one_task_per_bucket_bytes():
    from jobs.embed.partition import BUCKET_BYTES, bucket_count, bucket_groups

    for source_bytes in (0, 1, BUCKET_BYTES, 3 * BUCKET_BYTES + 1, 100 * BUCKET_BYTES):
        buckets = bucket_count(source_bytes)
        groups = bucket_groups(buckets, source_bytes)
        assert sorted(b for group in groups for b in group) == list(range(buckets))
    assert bucket_groups(4, 300) == [[0, 1, 2, 3]]  # a small corpus: one task, four buckets
    assert bucket_groups(4, 2 * BUCKET_BYTES) == [[0, 2], [1, 3]]
    assert bucket_groups(8, 8 * BUCKET_BYTES) == [[b] for b in range(8)]
