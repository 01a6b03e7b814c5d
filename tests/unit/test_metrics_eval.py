"""Evaluation metrics against hand-computed cases and scipy; readers of the evaluation files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jobs.eval.data import read_retrieval, read_sts
from jobs.eval.metrics import (
    mean_over_queries,
    ndcg_at_k,
    rank_average,
    recall_at_k,
    spearman,
    trec_order,
)
from jobs.eval.run import run_settings, sts_ids


def test_ranks_and_spearman_match_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 200).astype(float)  # many ties, like STS gold scores
    y = x + rng.normal(size=200)
    np.testing.assert_allclose(rank_average(x), stats.rankdata(x))
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_hand_cases():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ranks (1, 2.5, 2.5) against (1, 2, 3): Pearson of the ranks.
    assert spearman([0, 5, 5], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)


def test_ndcg_hand_computed_graded_case():
    qrels = {"d1": 1, "d2": 2}
    ranking = [("d3", 0.9), ("d2", 0.8), ("d1", 0.7)]
    dcg = 0 + 2 / math.log2(3) + 1 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(ranking, qrels, 1) == 0.0
    assert ndcg_at_k([("d2", 1.0), ("d1", 0.5)], qrels, 10) == pytest.approx(1.0)


def test_ties_are_ordered_by_doc_id_descending_like_trec_eval():
    assert trec_order([("a", 0.5), ("c", 0.9), ("b", 0.5)]) == ["c", "b", "a"]
    # Equal scores: "b" ranks before the relevant "a", so nDCG@1 is 0.
    assert ndcg_at_k([("a", 0.5), ("b", 0.5)], {"a": 1}, 1) == 0.0
    assert ndcg_at_k([("b", 0.5), ("a", 0.5)], {"b": 1}, 1) == 1.0


def test_recall_and_the_mean_over_judged_queries():
    qrels = {"q1": {"a": 1, "b": 1, "z": 0}, "q2": {"c": 1}}
    rankings = {"q1": [("a", 0.9), ("x", 0.8), ("b", 0.1)]}
    assert recall_at_k(rankings["q1"], qrels["q1"], 2) == 0.5
    assert recall_at_k(rankings["q1"], qrels["q1"], 3) == 1.0
    # q2 has no ranking at all: it counts as 0, not as missing.
    assert mean_over_queries(recall_at_k, rankings, qrels, 3) == 0.5


def test_read_sts_splits_on_tabs_only(tmp_path):
    path = tmp_path / "sts.csv"
    path.write_text('g\tf\ty\t1\t2.5\tHe said "hi.\tShe said \'no\'.\n'
                    "g\tf\ty\t2\t4.0\tA\u2028B\tC\tsrc1\tsrc2\r\n\n", encoding="utf-8")
    pairs = read_sts(path)
    assert pairs.scores.tolist() == [2.5, 4.0]
    assert pairs.first == ['He said "hi.', "A\u2028B"]
    assert pairs.second == ["She said 'no'.", "C"]


def test_read_retrieval_joins_title_and_text_and_cuts_the_corpus(tmp_path):
    docs = [{"_id": "1", "title": "T", "text": "body"}, {"_id": "2", "title": "", "text": " x "},
            {"_id": "3", "title": "U", "text": ""}]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}, {"_id": "q9", "text": "x"}]
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\r\nq1\t1\t1\r\nq2\t3\t2\r\n")
    data = read_retrieval(tmp_path)
    assert data.doc_texts == ["T body", "x", "U"]
    assert data.queries == {"q1": "one", "q2": "two"}
    assert data.qrels == {"q1": {"1": 1}, "q2": {"3": 2}}
    cut = read_retrieval(tmp_path, max_docs=2)
    assert cut.doc_ids == ["1", "2"] and cut.qrels == {"q1": {"1": 1}} and list(cut.queries) == ["q1"]


def test_sts_rows_get_unique_ids_even_for_duplicate_sentences():
    a, b = sts_ids(3)
    assert len(set(a + b)) == 6


def test_one_run_serves_several_dims():
    assert run_settings({}, [None], False) == {"truncate_dim": None, "keep_full": False}
    assert run_settings({}, [128], True) == {"truncate_dim": 128, "keep_full": True}
    assert run_settings({"model": "m"}, [384, 256, 64], False) == {
        "model": "m", "truncate_dim": 64, "keep_full": True}
