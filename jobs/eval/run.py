"""Quality evaluation through the product: the embed job writes a table, the query actor ranks.

STS: both sentence columns go through the embed job; cosines of the stored unit vectors are
correlated with the gold scores. Retrieval: the corpus goes through the embed job, every
judged query through QueryActor.search_batch (top 100), scored like trec_eval; modes
"bm25" (QueryActor.bm25_search_batch) and "hybrid" (search_batch(hybrid=True)) rank
through the table's full-text index as well.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from actors.vectors import postprocess
from jobs.eval.data import RetrievalSet, StsPairs
from jobs.eval.metrics import mean_over_queries, ndcg_at_k, pearson, recall_at_k, spearman

TOP_K = 100
MODES = ("dense", "bm25", "hybrid")


def embed_records(ids: list[str], texts: list[str], workdir: Path, table: str,
                  settings: dict, records: list[dict] | None = None) -> tuple[str, dict]:
    """Run the embed job on (id, text) rows, or on `records` as they are, into a fresh table;
    return the db folder and summary."""
    from jobs.config import build_config
    from jobs.embed.run import run_embed

    source = workdir / f"{table}.jsonl"
    records = records or [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]
    with open(source, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    db = str(workdir / "db")
    summary = run_embed(build_config({**settings, "table": table, "db": db, "paths": [str(source)],
                                      "mode": "create"}))
    if summary.rejected:
        raise RuntimeError(f"{summary.rejected} evaluation rows were rejected; see {table}__rejects")
    return db, summary.to_dict()


def read_vectors(db: str, table: str, ids: list[str], column: str = "vector") -> np.ndarray:
    """The stored vectors of `column` for the given ids, in that order."""
    import lance

    from storage.db import table_uri

    data = lance.dataset(table_uri(db, table)).to_table(columns=["id", column])
    dim = data.schema.field(column).type.list_size
    matrix = np.asarray(data.column(column).combine_chunks().flatten(), dtype=np.float32)
    row_of = {doc_id: i for i, doc_id in enumerate(data.column("id").to_pylist())}
    return matrix.reshape(data.num_rows, dim)[[row_of[i] for i in ids]]


def sts_ids(count: int) -> tuple[list[str], list[str]]:
    """Row ids of the two sentences of each pair (duplicate sentences still get their own row)."""
    return [f"{i}-a" for i in range(count)], [f"{i}-b" for i in range(count)]


def score_sts(first: np.ndarray, second: np.ndarray, gold: np.ndarray) -> dict:
    """Spearman and Pearson x100 of the pairs' cosines (rows are unit vectors) with the gold."""
    cosines = np.sum(first.astype(np.float64) * second.astype(np.float64), axis=1)
    return {"spearman": round(100 * spearman(cosines, gold), 4),
            "pearson": round(100 * pearson(cosines, gold), 4), "pairs": len(gold)}


def run_settings(settings: dict, dims: list[int | None], rerank: bool) -> dict:
    """The embed settings for a set of dims: one dim as asked; several: the smallest, keep full."""
    run = dict(settings)
    if len(dims) == 1:
        run["truncate_dim"] = dims[0]
        run["keep_full"] = bool(dims[0] and (rerank or settings.get("keep_full")))
        return run
    truncated = [d for d in dims if d]
    if not truncated:
        raise ValueError("several dims need at least one truncated dim")
    run.update(truncate_dim=min(truncated), keep_full=True)
    return run


def evaluate_sts(pairs: StsPairs, settings: dict, dims: list[int | None] | None = None,
                 workdir: str | None = None) -> list[dict]:
    """STS scores per dimension, from one embed run.

    With several dims the run truncates to the smallest and keeps the full vectors; the other
    dims are the full vectors truncated and re-normalized exactly as the job does it.
    """

    dims = dims or [settings.get("truncate_dim")]
    run = run_settings(settings, dims, False)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        a_ids, b_ids = sts_ids(len(pairs.scores))
        started = time.perf_counter()
        db, summary = embed_records(a_ids + b_ids, pairs.first + pairs.second, Path(tmp), "sts", run)
        results = []
        for dim in dims:
            if dim == run["truncate_dim"]:
                a, b = (read_vectors(db, "sts", ids) for ids in (a_ids, b_ids))
            else:  # the job's post-processing applied to the stored full vectors
                a, b = (postprocess(read_vectors(db, "sts", ids, "vector_full"), dim)
                        for ids in (a_ids, b_ids))
            results.append({"task": "sts", "dim": a.shape[1], "rerank": False,
                            **score_sts(a, b, pairs.scores), "embed": summary,
                            "seconds": round(time.perf_counter() - started, 1)})
    return results


def score_retrieval(rankings: dict[str, list[tuple[str, float]]],
                    qrels: dict[str, dict[str, int]]) -> dict:
    """nDCG@10 and recall@100 (trec_eval definitions), averaged over the judged queries."""
    return {"ndcg@10": round(mean_over_queries(ndcg_at_k, rankings, qrels, 10), 5),
            "recall@100": round(mean_over_queries(recall_at_k, rankings, qrels, 100), 5),
            "queries": len(qrels)}


def rank_queries(db: str, table: str, queries: dict[str, str], rerank: bool,
                 k: int = TOP_K, mode: str = "dense") -> dict[str, list[tuple[str, float]]]:
    """Top-k (id, score) per query from the query actor: dense, bm25 or hybrid."""
    from actors.query.actor import QueryActor

    actor = QueryActor(db, table)
    query_ids = list(queries)
    texts = [queries[q] for q in query_ids]
    if mode == "bm25":
        hits = actor.bm25_search_batch(texts, k)
    else:
        hits = actor.search_batch(texts, k, rerank=rerank, hybrid=mode == "hybrid")
    return {q: [(h.id, h.score) for h in found] for q, found in zip(query_ids, hits, strict=True)}


def derive_truncated(db: str, source: str, target: str, dim: int | None) -> int:
    """A copy of a keep-full table whose `vector` is vector_full truncated to dim, as the job would.

    Returns the new table's dim. At the model's own dim the copy has no vector_full (a full
    vector has nothing to rerank with).
    """
    import lance
    import pyarrow as pa

    from storage.db import table_uri
    from storage.provenance import provenance_of
    from storage.schema import is_chunked, own_columns, table_schema, vector_type

    data = lance.dataset(table_uri(db, source)).to_table()
    old = provenance_of(data.schema)
    vectors = postprocess(read_vectors(db, source, data.column("id").to_pylist(), "vector_full"), dim)
    size = vectors.shape[1]
    keep_full = size < old.native_dim
    settings = {**old.settings, "truncate_dim": dim if keep_full else None, "keep_full": keep_full}
    provenance = replace(old, settings=settings, dim=size)
    carried = [f for f in data.schema if f.name not in own_columns(data.schema)]
    full = data.schema.field("vector_full").type if keep_full else None
    schema = table_schema(pa.schema(carried), vector_type(size), provenance, full,
                          chunked=is_chunked(data.schema))
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), size)
    data = data.set_column(data.schema.get_field_index("vector"), "vector", column)
    lance.write_dataset(data.select(schema.names).cast(schema), table_uri(db, target), mode="create")
    return size


def evaluate_retrieval(data: RetrievalSet, settings: dict, dims: list[int | None] | None = None,
                       rerank: list[bool] | None = None, workdir: str | None = None,
                       modes: list[str] | None = None) -> list[dict]:
    """nDCG@10 / recall@100 per (mode, dim, rerank) from one embed run of the corpus.

    With several dims the run truncates to the smallest and keeps the full vectors; tables for
    the other dims are derived from the full vectors (see derive_truncated). Rerank applies only
    to truncated dims. Modes besides "dense" need the full-text index, built after the run
    (SciFact is below the size at which the job builds indexes itself); BM25 does not depend on
    the vectors, so it is scored once.
    """
    from storage.db import table_provenance
    from storage.index import build_text_index

    dims = dims or [settings.get("truncate_dim")]
    rerank = rerank or [False]
    modes = modes or ["dense"]
    if unknown := set(modes) - set(MODES):
        raise ValueError(f"unknown retrieval modes {sorted(unknown)}; use {MODES}")
    run = run_settings(settings, dims, any(rerank))
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        started = time.perf_counter()
        # A title-headed chunked run embeds each body's chunks under the document's title.
        records = data.titled_records() if run.get("chunk_header") == "title" else None
        db, summary = embed_records(data.doc_ids, data.doc_texts, Path(tmp), "corpus", run, records)
        results = []
        for dim in dims:
            table = "corpus"
            if dim != run["truncate_dim"]:
                table = f"corpus_{dim or 'full'}"
                derive_truncated(db, "corpus", table, dim)
            if set(modes) - {"dense"}:
                build_text_index(db, table)
            provenance = table_provenance(db, table)
            for mode in modes:
                if mode == "bm25" and any(r["mode"] == "bm25" for r in results):
                    continue
                for again in ([False] if mode == "bm25" else rerank):
                    if again and not provenance.keep_full:
                        continue  # nothing to rerank with at the model's own dim
                    rankings = rank_queries(db, table, data.queries, again, mode=mode)
                    results.append({"task": "retrieval", "mode": mode, "dim": provenance.dim,
                                    "rerank": again, **score_retrieval(rankings, data.qrels),
                                    "embed": summary,
                                    "seconds": round(time.perf_counter() - started, 1)})
    return results

