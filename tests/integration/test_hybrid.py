"""BM25 and hybrid search against real tables: filters on both sides, the full-text index kept fresh."""

from __future__ import annotations

import pytest

from actors.query.actor import QueryActor, QueryError
from actors.query.fusion import reciprocal_rank_fusion
from storage.index import build_text_index, index_status
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import copy_db, embed

MUSIC = [("topic", "=", "music")]


@pytest.fixture(scope="module")
def texts_db(fake_sample_db, tmp_path_factory) -> str:
    """A copy of the fake-encoder sample table with its full-text index built."""
    db = copy_db(fake_sample_db, tmp_path_factory.mktemp("hybrid"))
    build_text_index(db, "sample")
    return db


def test_hybrid_and_bm25_with_filters_return_only_matching_rows(texts_db):
    actor = QueryActor(texts_db, "sample")
    for query in ("jazz music and a storm on a giant planet", "ancient kings and the moon"):
        for hits in (actor.search(query, 25, MUSIC, hybrid=True),
                     actor.search_batch([query], 25, MUSIC, hybrid=True)[0]):
            assert len(hits) == 25 and {h.columns["topic"] for h in hits} == {"music"}
        # BM25 alone finds only music rows that share a word with the query: maybe none.
        assert {h.columns["topic"] for h in actor.bm25_search(query, 25, MUSIC)} <= {"music"}
        recent = actor.search(query, 50, [("year", ">=", 2015)], hybrid=True)
        assert recent and all(h.columns["year"] >= 2015 for h in recent)
    assert len(actor.bm25_search("jazz music and a storm on a giant planet", 25, MUSIC)) == 2


def test_hybrid_is_the_rrf_of_the_filtered_dense_and_bm25_rankings(texts_db):
    actor = QueryActor(texts_db, "sample")
    query = "the storm on jupiter"
    dense = [h.id for h in actor.search(query, 10, MUSIC + [("year", ">", 1900)])]
    words = [h.id for h in actor.bm25_search(query, 10, MUSIC + [("year", ">", 1900)])]
    hybrid = actor.search(query, 10, MUSIC + [("year", ">", 1900)], hybrid=True)
    assert [(h.id, pytest.approx(h.score)) for h in hybrid] == \
        reciprocal_rank_fusion([dense, words], 10)
    # The keyword side finds the one row that names Jupiter, which a hashing encoder ranks low.
    unfiltered = actor.bm25_search("jupiter", 3)
    assert unfiltered[0].id == "astronomy-001" and "Jupiter" in unfiltered[0].text
    assert "astronomy-001" in {h.id for h in actor.search("jupiter", 10, hybrid=True)}
    with pytest.raises(QueryError, match="hybrid search needs a text query"):
        actor.search([1.0] * 64, 5, hybrid=True)


def test_the_full_text_index_survives_an_incremental_run(ray_cluster, db, tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", corpus_records(60))
    assert embed(db, first, model="fake:16", index_threshold=50).index == "built"
    assert [i["type"] for i in index_status(db, "docs", text=True)].count("FTS") == 1
    added = corpus_records(60) + [{"id": f"new-{i}", "text": f"a quokka smiles {i}", "topic": "space",
                                   "year": 2024} for i in range(3)]
    summary = embed(db, write_jsonl(tmp_path / "b.jsonl", added), model="fake:16",
                    index_threshold=50, mode="incremental")
    assert (summary.embedded, summary.index) == (3, "optimized")
    text_index = next(i for i in index_status(db, "docs", text=True) if i["type"] == "FTS")
    assert (text_index["indexed_rows"], text_index["unindexed_rows"]) == (63, 0)
    actor = QueryActor(db, "docs")
    assert sorted(h.id for h in actor.bm25_search("quokka", 10)) == ["new-0", "new-1", "new-2"]
    assert {h.id for h in actor.search("quokka", 3, hybrid=True)} >= {"new-0"}


def test_a_small_tables_hand_built_text_index_is_kept_fresh(ray_cluster, db, tmp_path, capsys):
    from jobs.cli.main import main

    embed(db, write_jsonl(tmp_path / "a.jsonl", corpus_records(20)), model="fake:16")
    with pytest.raises(QueryError, match="embedfleet index docs --fts"):
        QueryActor(db, "docs").search("space", 3, hybrid=True)
    assert main(["index", "docs", "--fts", "--db", db]) == 0
    assert "built type=fts, column=text" in capsys.readouterr().out
    later = [{"id": "late", "text": "an okapi in the forest", "topic": "space", "year": 2020}]
    assert embed(db, write_jsonl(tmp_path / "b.jsonl", later), model="fake:16", mode="append"
                 ).index == "none"
    assert index_status(db, "docs") == []  # no ANN index below the threshold
    assert [h.id for h in QueryActor(db, "docs").bm25_search("okapi", 5)] == ["late"]
    assert main(["query", "docs", "okapi forest", "--hybrid", "-k", "3", "--json", "--db", db]) == 0
    assert '"id": "late"' in capsys.readouterr().out
    assert main(["query", "docs", "okapi", "--bm25", "--where", "year<2000", "--db", db]) == 0
    assert "late" not in capsys.readouterr().out



def test_eval_retrieval_reports_bm25_and_hybrid_beside_dense(ray_cluster, tmp_path):
    from jobs.eval.data import RetrievalSet
    from jobs.eval.run import evaluate_retrieval

    texts = [f"{word} report number {i}" for i, word in enumerate(["comet", "violin", "tennis"] * 4)]
    data = RetrievalSet([f"d{i}" for i in range(12)], texts, {"q1": "violin", "q2": "comet"},
                        {"q1": {f"d{i}": 1 for i in (1, 4, 7, 10)}, "q2": {f"d{i}": 1 for i in (0, 3, 6, 9)}})
    results = evaluate_retrieval(data, {"model": "fake:16"}, modes=["dense", "bm25", "hybrid"],
                                 workdir=str(tmp_path))
    by_mode = {r["mode"]: r for r in results}
    assert list(by_mode) == ["dense", "bm25", "hybrid"] and len(results) == 3
    assert by_mode["bm25"]["ndcg@10"] == 1.0  # the judged documents are those naming the word


def test_info_lists_the_full_text_index(texts_db):
    from storage.info import table_info

    indexes = table_info(texts_db, "sample")["indexes"]
    assert [i["columns"] for i in indexes] == [["text"]] and indexes[0]["type"] == "FTS"
