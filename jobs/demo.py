"""`python -m jobs.demo TABLE QUERY`: a table's top 5 for a query by brute-force cosine."""

from __future__ import annotations

import argparse

import numpy as np

from actors.query.encoder import QueryEncoder
from actors.query.similarity import cosine_top_k
from storage.db import open_table
from storage.defaults import default_db
from storage.provenance import provenance_of


def brute_force_top_k(db: str, table: str, query: str, k: int = 5) -> list[tuple[float, str, str]]:
    """(score, id, text) of the k stored vectors closest to the query, best first."""
    data = open_table(db, table).to_arrow()
    provenance = provenance_of(data.schema)
    vectors = np.asarray(data.column("vector").combine_chunks().flatten()).reshape(
        data.num_rows, provenance.dim)
    query_vector = QueryEncoder(provenance).embed_queries([query])[0]
    order, scores = cosine_top_k(vectors, query_vector, k)
    ids, texts = data.column("id").to_pylist(), data.column("text").to_pylist()
    return [(float(s), ids[i], texts[i]) for i, s in zip(order, scores, strict=True)]


def main() -> None:
    """Print the top 5 as rank, score, id, text."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table")
    parser.add_argument("query")
    parser.add_argument("--db", default=default_db())
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    print(f"top {args.k} for {args.query!r} (brute-force cosine over every stored vector):")
    for rank, (score, doc_id, text) in enumerate(brute_force_top_k(args.db, args.table, args.query,
                                                                   args.k), 1):
        print(f"{rank:>2}  {score:.4f}  {doc_id:<16} {text[:80]}")


if __name__ == "__main__":
    main()
