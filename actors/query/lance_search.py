"""LanceDB's own searches for the query actor: cosine (flat scan or ANN index) and BM25, filtered first."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def vector_search(table, vector, limit: int, where: str | None, columns: list[str],
                  probes: int | None, refine: int, exact: bool,
                  widen: bool = False) -> tuple[pa.Table, np.ndarray]:
    """Top `limit` rows by cosine and their scores; through the ANN index when `probes` is set."""
    query = table.search(vector, vector_column_name="vector").distance_type("cosine") \
        .limit(limit).select(columns)
    if where:
        query = query.where(where, prefilter=True)
    if exact:
        query = query.bypass_vector_index()
    elif probes:
        # widen: probe further partitions while the limit is not met, so that fewer rows
        # than asked means the table has no more (a document search relies on it to stop).
        query = (query.minimum_nprobes(probes).maximum_nprobes(0) if widen
                 else query.nprobes(probes)).refine_factor(refine)
    result = query.to_arrow()
    return result, 1.0 - result.column("_distance").to_numpy()


def full_text_search(table, text: str, limit: int, where: str | None,
                     columns: list[str]) -> tuple[pa.Table, np.ndarray]:
    """Top `limit` rows by BM25 over `text` and their BM25 scores."""
    query = table.search(text, query_type="fts", fts_columns="text").limit(limit).select(columns)
    if where:
        query = query.where(where, prefilter=True)
    result = query.to_arrow()
    return result, result.column("_score").to_numpy()
