"""Exact search from memory against LanceDB's own flat scan: same rows, same order, refreshed per version."""

from __future__ import annotations

import numpy as np
import pytest

from actors.query.actor import QueryActor
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import embed

FILTERS = [None, [("topic", "=", "music")], [("year", ">=", 2010), ("topic", "!=", "history")]]


def flat(actor: QueryActor, vector, k: int, filters=None) -> list[tuple[str, float]]:
    """LanceDB's flat scan through the actor's fallback path (what tables over the budget get)."""
    from actors.query.filters import render_filter

    result, scores = actor._lancedb_search(vector, k, render_filter(filters, actor.schema),
                                           actor._columns, None, None, True)
    return list(zip(result.column("id").to_pylist(), scores.tolist(), strict=True))


def same(hits, expected) -> bool:
    return [h.id for h in hits] == [i for i, _ in expected] and np.allclose(
        [h.score for h in hits], [s for _, s in expected], atol=1e-5)


@pytest.mark.parametrize("filters", FILTERS)
def test_memory_search_equals_lancedb_flat_scan(minilm_sample_db, filters):
    actor = QueryActor(minilm_sample_db, "sample")
    for query in ("a storm on a giant planet", "jazz musicians", "the history of rome"):
        vector = actor.embed_query(query)
        for k in (1, 10, 300):
            assert same(actor.search(query, k, filters), flat(actor, vector, k, filters))
    assert actor.memory_bytes > 0
    batch = actor.search_batch(["jazz musicians", "the moon"], 7, filters)
    assert [[h.id for h in hs] for hs in batch] == [[h.id for h in actor.search(q, 7, filters)]
                                                    for q in ["jazz musicians", "the moon"]]


def test_over_the_budget_the_table_is_searched_by_lancedb(minilm_sample_db):
    actor = QueryActor(minilm_sample_db, "sample")
    actor._memory.budget = 1000
    hits = actor.search("volcanoes", 10)
    assert actor.memory_bytes == 0 and same(hits, flat(actor, actor.embed_query("volcanoes"), 10))


def test_a_new_version_reads_only_its_new_fragments(ray_cluster, tmp_path):
    db = str(tmp_path / "db")
    embed(db, write_jsonl(tmp_path / "a.jsonl", corpus_records(40)), model="fake:16")
    actor = QueryActor(db, "docs")
    assert len(actor.search("space note", 100)) == 40 and actor._memory.fragments_read == 1
    embed(db, write_jsonl(tmp_path / "b.jsonl", corpus_records(5, prefix="new")), model="fake:16",
          mode="append")
    hits = actor.search("space note", 100)
    assert len(hits) == 45 and actor._memory.fragments_read == 2  # the old fragment was kept
    # An incremental run that changes and deletes rows: the fragments it touched are reloaded.
    changed = corpus_records(40)[:30]
    changed[0]["text"] = "a changed space note"
    summary = embed(db, write_jsonl(tmp_path / "c.jsonl", changed), model="fake:16",
                    mode="incremental", delete_missing=True)
    assert (summary.updated, summary.deleted) == (1, 15)
    hits = actor.search("a changed space note", 100)
    assert len(hits) == 30 and hits[0].id == "doc-0000" and hits[0].text == "a changed space note"
    assert same(hits, flat(actor, actor.embed_query("a changed space note"), 100))


def test_similar_and_arithmetic_run_from_memory(minilm_sample_db):
    actor = QueryActor(minilm_sample_db, "sample")
    similar = actor.similar("astronomy-001", 5)
    own = actor.search(actor._table.search().where("id = 'astronomy-001'").limit(1).to_arrow()
                       .column("vector")[0].as_py(), 6)
    assert [h.id for h in similar] == [h.id for h in own if h.id != "astronomy-001"][:5]
    assert actor.arithmetic("king - man + woman", 3) and actor.memory_bytes > 0
