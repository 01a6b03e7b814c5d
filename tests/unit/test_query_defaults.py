"""similar() and arithmetic() search an ANN index with the same defaults as search()."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from actors.config import ModelConfig
from actors.query.actor import QueryActor
from actors.query.expressions import combine, parse_expression
from storage.index import build_index
from storage.provenance import Provenance
from storage.schema import table_schema, vector_type

DIM, ROWS = 32, 4000


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """An IVF_PQ-indexed table of clustered unit vectors (model 'fake:32'); its db and vectors."""
    import lancedb

    db = str(tmp_path_factory.mktemp("indexed") / "db")
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, DIM))
    vectors = centres[rng.integers(0, 40, ROWS)] + 0.3 * rng.standard_normal((ROWS, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    schema = table_schema(pa.schema([]), vector_type(DIM),
                          Provenance.build(ModelConfig(model=f"fake:{DIM}"), DIM, DIM))
    ids = pa.array([f"v{i}" for i in range(ROWS)])
    lancedb.connect(db).create_table("t", data=pa.table({
        "id": ids, "text": ids,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM),
        "content_hash": pa.nulls(ROWS, pa.string()),
        "embedded_at": pa.nulls(ROWS, pa.timestamp("us", tz="UTC"))}, schema=schema))
    build_index(db, "t", "ivf_pq")
    return db, vectors


def ids(hits) -> list[str]:
    return [h.id for h in hits]


def test_similar_searches_the_index_as_search_does(indexed):
    db, vectors = indexed
    actor = QueryActor(db, "t")
    changed_by_refine = 0
    for row in range(20):
        by_search = [i for i in ids(actor.search(vectors[row], 11)) if i != f"v{row}"][:10]
        assert ids(actor.similar(f"v{row}", 10)) == by_search
        coarse = [i for i in ids(actor.search(vectors[row], 11, refine=4)) if i != f"v{row}"][:10]
        changed_by_refine += coarse != by_search
    # The refine factor matters on this table, so a similar() with its own would show above.
    assert changed_by_refine >= 5


def test_arithmetic_searches_the_index_as_search_does(indexed):
    db, _ = indexed
    actor = QueryActor(db, "t")
    for expression in ("v1 - v2 + v3", "v7 + v8"):
        terms = parse_expression(expression)
        operands = {phrase for _, phrase in terms}
        target = combine(np.stack([actor.embed_query(p) for _, p in terms]), [s for s, _ in terms])
        expected = [i for i in ids(actor.search(target, 10 + len(operands))) if i not in operands][:10]
        assert ids(actor.arithmetic(expression, 10)) == expected
