"""Matryoshka two-stage search on SciFact: recall@10 against exact full-dimension search.

Embeds the SciFact corpus once through the embed job with `--truncate-dim D --keep-full`, then
for every judged query compares three top-10 lists with the exact full-dimension top-10:
truncated search alone, and truncated candidates (k * refine) re-scored on the full vectors.
The table's own dimension runs through `QueryActor`; other dimensions are computed from the
stored full vectors with the same truncate-then-normalize arithmetic, which saves re-embedding.

    python bench/rerank_recall.py --dims 256 128 64 --refine 2 4 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lance
import numpy as np

REPO = Path(__file__).resolve().parent.parent


def top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest dot products, best first (ties by index)."""
    scores = matrix @ query
    return np.lexsort((np.arange(len(scores)), -scores))[:k]


def unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1."""
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true top-k found."""
    return len(set(found.tolist()) & set(truth.tolist())) / len(truth)


def measure(full_docs, full_queries, dim: int, refines: list[int], k: int = 10) -> dict:
    """Recall@k of truncated search and of each rerank depth, averaged over queries."""
    docs, queries = unit(full_docs[:, :dim]), unit(full_queries[:, :dim])
    out = {"dim": dim, "truncated": [], **{f"rerank_x{r}": [] for r in refines}}
    for q_full, q in zip(full_queries, queries, strict=True):
        truth = top_k(full_docs, q_full, k)
        out["truncated"].append(recall(top_k(docs, q, k), truth))
        for r in refines:
            candidates = top_k(docs, q, k * r)
            rescored = candidates[top_k(full_docs[candidates], q_full, k)]
            out[f"rerank_x{r}"].append(recall(rescored, truth))
    return {key: (round(float(np.mean(v)), 4) if isinstance(v, list) else v) for key, v in out.items()}


def main() -> None:
    """Embed, measure, print a markdown table and write docs/bench/rerank_recall.json."""
    from actors.query.actor import QueryActor
    from jobs.config import build_config
    from jobs.embed.run import run_embed
    from jobs.eval.data import default_path, read_retrieval

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(default_path("scifact")))
    parser.add_argument("--dims", type=int, nargs="+", default=[256, 128, 64])
    parser.add_argument("--refine", type=int, nargs="+", default=[2, 4, 10])
    parser.add_argument("--max-docs", type=int)
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "rerank_recall.json"))
    args = parser.parse_args()
    data = read_retrieval(args.data, max_docs=args.max_docs)
    table_dim = min(args.dims)
    with tempfile.TemporaryDirectory(prefix="embedfleet-rerank-") as root:
        corpus = Path(root) / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                                  for i, t in zip(data.doc_ids, data.doc_texts, strict=True)))
        start = time.perf_counter()
        run_embed(build_config({"table": "scifact", "db": f"{root}/db", "paths": [str(corpus)],
                                "truncate_dim": table_dim, "keep_full": True, "mode": "create"}))
        embed_s = time.perf_counter() - start
        table = lance.dataset(f"{root}/db/scifact.lance").to_table(columns=["id", "vector_full"])
        full_docs = np.asarray(table.column("vector_full").combine_chunks().flatten(),
                               dtype=np.float32).reshape(table.num_rows, -1)
        actor = QueryActor(f"{root}/db", "scifact")
        texts = list(data.queries.values())
        full_queries = np.stack([actor.embed_query(t, full=True) for t in texts])
        results = [measure(full_docs, full_queries, d, args.refine) for d in args.dims]
        # The table's own dimension once more, through the query actor end to end.
        ids = table.column("id").to_pylist()
        position = {doc: i for i, doc in enumerate(ids)}
        through_actor = {"truncated": [], "rerank_x4": []}
        for t, q_full in zip(texts, full_queries, strict=True):
            truth = top_k(full_docs, q_full, 10)
            plain = np.array([position[h.id] for h in actor.search(t, 10)])
            reranked = np.array([position[h.id] for h in actor.search(t, 10, rerank=True, refine=4)])
            through_actor["truncated"].append(recall(plain, truth))
            through_actor["rerank_x4"].append(recall(reranked, truth))
    actor_row = {k: round(float(np.mean(v)), 4) for k, v in through_actor.items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"docs": len(ids), "queries": len(texts), "embed_s": embed_s,
                                          "results": results, "query_actor_dim": table_dim,
                                          "query_actor": actor_row}, indent=2))
    print(f"## Matryoshka rerank on SciFact ({len(ids)} docs, {len(texts)} queries)\n")
    print("recall@10 against exact full-dimension (384) search. Command: "
          "`python bench/rerank_recall.py`.\n")
    heads = ["truncated"] + [f"rerank_x{r}" for r in args.refine]
    print("| dim | truncated only | " + " | ".join(f"rerank, {r}x candidates" for r in args.refine) + " |")
    print("|---:|" + "---:|" * len(heads))
    for r in results:
        print(f"| {r['dim']} | " + " | ".join(str(r[h]) for h in heads) + " |")
    print(f"\nThrough QueryActor at {table_dim} dims: truncated {actor_row['truncated']}, "
          f"rerank 4x {actor_row['rerank_x4']}.")


if __name__ == "__main__":
    main()
