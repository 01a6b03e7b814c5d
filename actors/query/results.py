"""What a query answers with: Hit rows built from Arrow results, and the Matryoshka rerank (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Hit:
    """One result: id, score (cosine; RRF relevance for hybrid, BM25 for bm25), text, carried columns."""

    id: str
    score: float
    text: str
    columns: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Flat JSON-ready form: id, score, text, then the carried columns."""
        return {"id": self.id, "score": self.score, "text": self.text,
                **{k: _plain(v) for k, v in self.columns.items()}}


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def hits_of(result: pa.Table, scores, carried: list[str]) -> list[Hit]:
    """One Hit per row of a result, with its score and the carried columns."""
    rows = result.select(["id", "text", *carried]).to_pylist()
    return [Hit(r["id"], float(s), r["text"], {c: r[c] for c in carried})
            for r, s in zip(rows, scores, strict=True)]


def rerank(result: pa.Table, full_query: np.ndarray, k: int) -> tuple[pa.Table, np.ndarray]:
    """Re-score candidates by cosine on their full-size vectors and keep the best k."""
    if result.num_rows == 0:
        return result, np.zeros(0)
    dim = result.schema.field("vector_full").type.list_size
    full = np.asarray(result.column("vector_full").combine_chunks().flatten(), dtype=np.float64)
    scores = full.reshape(result.num_rows, dim) @ full_query.astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return result.take(pa.array(order)), scores[order]
