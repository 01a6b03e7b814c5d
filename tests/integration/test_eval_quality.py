"""Quality through the whole pipeline: the embed job and the query actor reproduce published scores."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.eval.data import RetrievalSet, default_path, read_retrieval, read_sts
from jobs.eval.run import evaluate_retrieval, evaluate_sts, score_retrieval

STS = default_path("stsbenchmark", "sts-test.csv")
SCIFACT = default_path("scifact")
# Two actor CPUs: the session cluster has 4 logical CPUs on a 2-core machine, and 4 torch
# threads on 2 cores would only slow the run down.
SETTINGS = {"cpus_per_actor": 2, "batch_size": 256}

pytestmark = pytest.mark.skipif(not STS.exists() or not SCIFACT.exists(),
                                reason="the shared evaluation data is not beside the repository")


@pytest.mark.slow
def test_sts_benchmark_through_the_job_matches_the_published_score(ray_cluster, tmp_path):
    result, = evaluate_sts(read_sts(STS), SETTINGS, workdir=str(tmp_path))
    assert result["pairs"] == 1379 and result["dim"] == 384
    assert abs(result["spearman"] - 82.03) <= 0.3, result


def judged_subset(data: RetrievalSet, queries: int, docs: int) -> RetrievalSet:
    """The first `queries` judged queries, their relevant documents, then others up to `docs`."""
    kept_queries = list(data.qrels)[:queries]
    relevant = {d for q in kept_queries for d, g in data.qrels[q].items() if g > 0}
    positions = [i for i, d in enumerate(data.doc_ids) if d in relevant]
    others = [i for i, d in enumerate(data.doc_ids) if d not in relevant]
    picked = sorted(positions + others[:max(0, docs - len(positions))])
    return RetrievalSet([data.doc_ids[i] for i in picked], [data.doc_texts[i] for i in picked],
                        {q: data.queries[q] for q in kept_queries},
                        {q: data.qrels[q] for q in kept_queries})


@pytest.mark.slow
def test_scifact_subset_ranks_like_plain_sentence_transformers(ray_cluster, tmp_path, minilm):
    # 24 judged queries among 160 documents (their relevant ones, then the corpus' first others):
    # each document is embedded twice, by the job and then plainly, so the model time is what
    # this test costs.
    data = judged_subset(read_retrieval(SCIFACT), queries=24, docs=160)
    ours, = evaluate_retrieval(data, SETTINGS, workdir=str(tmp_path))
    model = minilm
    docs = model.encode(data.doc_texts, batch_size=32, normalize_embeddings=True)
    query_ids = list(data.queries)
    queries = model.encode([data.queries[q] for q in query_ids], batch_size=32,
                           normalize_embeddings=True)
    scores = queries @ docs.T
    rankings = {}
    for q, row in zip(query_ids, scores, strict=True):
        top = np.argsort(-row, kind="stable")[:100]
        rankings[q] = [(data.doc_ids[i], float(row[i])) for i in top]
    plain = score_retrieval(rankings, data.qrels)
    assert ours["queries"] == plain["queries"] == len(data.qrels) > 20
    assert abs(ours["ndcg@10"] - plain["ndcg@10"]) <= 1e-3, (ours, plain)
    assert abs(ours["recall@100"] - plain["recall@100"]) <= 1e-3, (ours, plain)


def _tiny_sets(root):
    """A 12-pair STS file and a 30-doc BEIR folder with 4 judged queries."""
    import json

    topics = ["space", "food", "music", "sport"]
    lines = [f"g\tf\ty\t{i}\t{i % 6}\t{topics[i % 4]} note {i}\t{topics[i % 4]} text {i}"
             + ("\tsrc\tsrc" if i % 5 == 0 else "") for i in range(12)]
    (root / "sts.csv").write_text("\n".join(lines) + "\n")
    beir = root / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps(
        {"_id": f"d{i}", "title": topics[i % 4], "text": f"note {i} about {topics[i % 4]}"}) + "\n"
        for i in range(30)))
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": t}) + "\n"
                                                for i, t in enumerate(topics)))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\r\n" + "".join(
        f"q{i}\td{i}\t1\r\n" for i in range(4)))
    return root / "sts.csv", beir


def test_eval_commands_run_every_dim_from_one_embed(ray_cluster, tmp_path, capsys):
    import json

    from jobs.cli.main import main

    # The commands' wiring of dims, rerank and modes, not a model's quality (the tests above):
    # the 32-dim hashing encoder spares three actors the seconds of importing torch.
    model = "fake:32"
    sts, beir = _tiny_sets(tmp_path)
    assert main(["eval", "sts", "--data", str(sts), "--model", model, "--dims", "32,8",
                 "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["dim"] for r in results] == [32, 8] and all(r["pairs"] == 12 for r in results)
    assert main(["eval", "retrieval", "--data", str(beir), "--model", model, "--dims",
                 "32,16,8", "--both", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    # Rerank exists only where vectors are truncated: 16 and 8, not the model's own 32.
    assert [(r["dim"], r["rerank"]) for r in results] == [
        (32, False), (16, False), (16, True), (8, False), (8, True)]
    assert all(r["queries"] == 4 and 0 <= r["ndcg@10"] <= 1 for r in results)
    assert main(["eval", "retrieval", "--data", str(beir), "--model", model,
                 "--truncate-dim", "8", "--rerank"]) == 0
    assert "retrieval dim 8 rerank" in capsys.readouterr().out
