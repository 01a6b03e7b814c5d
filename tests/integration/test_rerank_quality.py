"""Matryoshka two-stage search on real SciFact documents with the real model."""

from __future__ import annotations

import json

import lance
import numpy as np
import pytest

from actors.query import QueryActor
from jobs.config import build_config
from jobs.embed import run_embed
from jobs.eval_data import default_path, read_retrieval
from storage.db import table_uri


@pytest.mark.slow
def test_rerank_recovers_recall_lost_to_truncation(ray_cluster, db, tmp_path):
    if not default_path("scifact").exists():
        pytest.skip("SciFact evaluation data not found beside the repository")
    data = read_retrieval(default_path("scifact"))
    corpus = tmp_path / "scifact.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                              for i, t in zip(data.doc_ids[:300], data.doc_texts[:300], strict=True)))
    run_embed(build_config({"table": "sci", "db": db, "paths": [str(corpus)], "truncate_dim": 64,
                            "keep_full": True, "mode": "create",
                            # 2 threads on 2 cores: the session's 4 logical CPUs would oversubscribe
                            "cpus_per_actor": 2}))
    table = lance.dataset(table_uri(db, "sci")).to_table(columns=["id", "vector_full"])
    full = np.asarray(table.column("vector_full").combine_chunks().flatten()).reshape(300, 384)
    ids = np.array(table.column("id").to_pylist())
    actor = QueryActor(db, "sci")
    truncated, reranked = [], []
    for text in list(data.queries.values())[:60]:
        truth = set(ids[np.argsort(-(full @ actor.embed_query(text, full=True)))[:10]])
        truncated.append(len(truth & {h.id for h in actor.search(text, 10)}) / 10)
        reranked.append(len(truth & {h.id for h in actor.search(text, 10, rerank=True, refine=4)}) / 10)
    assert np.mean(reranked) > np.mean(truncated) + 0.1, (np.mean(truncated), np.mean(reranked))
