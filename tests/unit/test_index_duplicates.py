"""An ANN index on a corpus of many duplicate vectors: partitions follow what k-means can form."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from storage.index import build_index, has_vector_index


def test_a_table_of_few_distinct_vectors_still_gets_an_index(tmp_path):
    import lancedb

    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(100, 8)).astype(np.float32)
    vectors = distinct[rng.integers(0, len(distinct), 100_000)]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    db = str(tmp_path / "db")
    lancedb.connect(db).create_table("docs", pa.table({
        "id": pa.array([f"r{i}" for i in range(len(vectors))]),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 8)}))
    # sqrt(100,000) = 316 partitions are asked for; k-means can form at most 100.
    params = build_index(db, "docs")
    assert params["num_partitions"] <= 100
    assert has_vector_index(db, "docs")
