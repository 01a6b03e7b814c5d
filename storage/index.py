"""A table's indexes (ANN on `vector`, full-text on `text`): defaults, build, refresh, status."""

from __future__ import annotations

import logging
import math
import re

from storage.db import open_table
from storage.defaults import DEFAULT_INDEX_KIND, INDEX_KINDS

TEXT_COLUMN = "text"

log = logging.getLogger(__name__)
_TOO_FEW_CLUSTERS = re.compile(r"could only form (\d+) non-empty clusters")


def index_parameters(rows: int, dim: int, kind: str) -> dict:
    """Sensible defaults: about sqrt(rows) IVF partitions; PQ sub-vectors of 8 dims (or 4, 2, 1)."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"index type must be one of {INDEX_KINDS}, got {kind!r}")
    partitions = max(1, min(4096, int(math.sqrt(max(rows, 1)))))
    if kind == "hnsw":
        # Fewer, larger partitions: the HNSW graph inside each one does the fine search.
        return {"num_partitions": max(1, partitions // 8), "m": 20, "ef_construction": 300}
    sub_dims = next(s for s in (8, 4, 2, 1) if dim % s == 0)
    return {"num_partitions": partitions, "num_sub_vectors": dim // sub_dims}


def default_nprobes(rows: int) -> int:
    """IVF partitions to probe by default: 8% of those index_parameters makes, at least 20."""
    # On 1M clustered 384-d vectors (1,000 partitions) recall@10 is 0.93-0.95 at 60 probes and
    # 0.95-0.96 at 80; latency grows slowly with probes (docs/BENCHMARKS.md, the index's curve).
    return max(20, round(index_parameters(rows, 1, "ivf_pq")["num_partitions"] * 0.08))


def build_index(db: str, name: str, kind: str = DEFAULT_INDEX_KIND, column: str = "vector",
                **overrides) -> dict:
    """(Re)build the cosine ANN index of a column; return the parameters used."""
    from lancedb.index import IvfHnswSq, IvfPq

    table = open_table(db, name)
    dim = table.schema.field(column).type.list_size
    params = {**index_parameters(table.count_rows(), dim, kind), **overrides}
    config_class = IvfHnswSq if kind == "hnsw" else IvfPq
    try:
        table.create_index(column, config=config_class(distance_type="cosine", **params), replace=True)
    except Exception as exc:  # noqa: BLE001 - only the too-few-clusters case is retried
        found = _TOO_FEW_CLUSTERS.search(str(exc))
        if found is None or "num_partitions" in overrides:
            raise
        # Many (near-)duplicate vectors: k-means formed fewer clusters than the row count
        # suggests. Partition by what it could form, so such a corpus still gets an index.
        log.warning("index on %s: only %s distinct clusters; building with that many partitions",
                    name, found.group(1))
        params["num_partitions"] = max(1, int(found.group(1)))
        table.create_index(column, config=config_class(distance_type="cosine", **params), replace=True)
    return {"type": kind, "column": column, **params}


def build_text_index(db: str, name: str, column: str = TEXT_COLUMN) -> dict:
    """(Re)build the BM25 full-text index of a text column (LanceDB's native one)."""
    from lancedb.index import FTS

    # LanceDB's defaults: simple tokenizer, lower case, English stemming, stop words out,
    # ASCII folding. No token positions: queries are bags of words, not phrases.
    open_table(db, name).create_index(column, config=FTS(), replace=True)
    return {"type": "fts", "column": column}


def index_status(db: str, name: str, text: bool = False) -> list[dict]:
    """Each ANN index of a table (and the full-text one if `text`): name, type, columns, rows."""
    table = open_table(db, name)
    out = []
    for index in table.list_indices():
        if not text and TEXT_COLUMN in index.columns:
            continue
        stats = table.index_stats(index.name)
        out.append({"name": index.name, "type": stats.index_type, "columns": list(index.columns),
                    "distance": stats.distance_type, "indexed_rows": stats.num_indexed_rows,
                    "unindexed_rows": stats.num_unindexed_rows})
    return out


def has_vector_index(db: str, name: str, column: str = "vector") -> bool:
    """True if the column has an ANN index."""
    return any(column in i["columns"] for i in index_status(db, name))


def has_text_index(db: str, name: str, column: str = TEXT_COLUMN) -> bool:
    """True if the column has a full-text index."""
    return any(column in i["columns"] for i in index_status(db, name, text=True))


def refresh_index(db: str, name: str, threshold: int, kind: str = DEFAULT_INDEX_KIND) -> str:
    """After a commit: build the ANN index once the table is large enough, else fold new rows in.

    The full-text index on `text` comes with the ANN index (same threshold) and is refreshed
    with it; one built earlier by hand (`embedfleet index --fts`) is refreshed at any size.
    Below the threshold no index is touched, so a small table's runs add no extra versions.
    Returns what was done to the ANN index: 'none' (below threshold), 'built', or 'optimized'.
    """
    table = open_table(db, name)
    has_text = has_text_index(db, name)
    if table.count_rows() < threshold:
        outcome = "none"
    elif not has_vector_index(db, name):
        build_index(db, name, kind)
        outcome = "built"
    else:
        outcome = "optimized"
    if outcome == "optimized" or has_text:
        # optimize_indices folds unindexed rows into every index (ANN and full-text) without
        # compacting files or pruning versions, so every version stays restorable.
        table.to_lance().optimize.optimize_indices()
    if outcome != "none" and not has_text:
        build_text_index(db, name)
    return outcome
