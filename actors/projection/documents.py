"""One map point per document of a chunked table: its chunks grouped and averaged (pure numpy).

A document's point is the normalized mean of its chunks' vectors, not its first chunk: it stands
for the whole text, and it is the very vector `similar(doc_id)` searches with, so the neighbours
the page lists for a clicked point are ranked from where that point sits on the map.
"""

from __future__ import annotations

import numpy as np

from actors.projection.core import unit_rows


def document_rows(doc_ids, chunks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct documents (sorted), the row of each one's first chunk, and each row's document."""
    ids, inverse = np.unique(np.asarray(doc_ids, dtype=object), return_inverse=True)
    order = np.lexsort((np.asarray(chunks), inverse))  # rows by document, then by chunk
    first = order[np.searchsorted(inverse[order], np.arange(len(ids)))]
    return ids, first.astype(np.int64), inverse.astype(np.int64)


def sampled_chunks(inverse: np.ndarray, documents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the chunks of some documents (sorted indexes), and which of them each row belongs to."""
    rows = np.flatnonzero(np.isin(inverse, documents))
    return rows, np.searchsorted(documents, inverse[rows])


def mean_vectors(vectors: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
    """Per group, the normalized mean of its rows' vectors: [count, dim] float32."""
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, groups, np.asarray(vectors, dtype=np.float64))
    return unit_rows(sums)
