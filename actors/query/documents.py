"""Chunked tables answer with documents: each document once, scored by its best chunk (pure).

A chunked table holds one row per chunk (`doc_id`, `chunk`, `start`, `end`, the chunk's `text`).
A document scores as its best chunk (MaxP: in the issue's reference experiment on SciFact it
beat both truncation and the mean of a document's chunk vectors). No Ray or LanceDB here: the
query actor fetches ranked chunk candidates, these functions keep each document's best one and
say when more candidates are needed to reach k documents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from actors.query.results import Hit
from storage.schema import CHUNK, DOC_ID

# Passage columns every document hit carries: which chunk won, and where it lies in the text.
PASSAGE_COLUMNS = (CHUNK, "start", "end")
# Each refill asks for at least this many times the chunks of the last try, so a query that
# needs many chunks (a few documents hold all the near ones) takes a few rounds, not many.
MIN_GROWTH = 2
# Past the first round, chunks per document seen so far are a good guess at what the next
# round yields; ask for this much more than the guess, so one refill usually suffices.
REFILL_MARGIN = 1.5


@dataclass(frozen=True)
class Grouped:
    """Per document, the position of its best chunk among the candidates, best first (<= k)."""

    positions: np.ndarray
    complete: bool  # k documents, or every candidate there is (fewer came back than asked)


def best_chunks(doc_ids: Sequence, scores, k: int, asked: int, every_row: bool = False) -> Grouped:
    """Each document's best-scoring chunk among ranked candidates; the top k documents.

    `asked` is how many candidates the search was asked for; `every_row` that it was the table's all.
    """
    scores = np.asarray(scores, dtype=np.float64)
    # Stable: equal scores keep the search's order (its ties are broken by position).
    order = np.argsort(-scores, kind="stable")
    seen, picked = set(), []
    for position in order:
        doc = doc_ids[position]
        if doc not in seen:
            seen.add(doc)
            picked.append(position)
            if len(picked) == k:
                break
    # Fewer candidates than asked means the search had no more: no refill finds another.
    complete = len(picked) >= k or len(doc_ids) < asked or every_row
    return Grouped(np.asarray(picked, dtype=np.int64), complete)


def first_limit(k: int, oversample: int, cap: int) -> int:
    """Chunk candidates the first round asks for: k documents' worth, at most the table's rows."""
    return max(1, min(k * max(oversample, 1), cap))


def next_limit(asked: int, k: int, found: int, cap: int) -> int:
    """Chunk candidates for the next round, from how many documents the last `asked` gave."""
    guess = asked * k / found * REFILL_MARGIN if found else asked * MIN_GROWTH * 2
    return min(cap, max(math.ceil(guess), asked * MIN_GROWTH))


# fetch(query indexes, limit) -> per query: (doc ids, scores, payload) of its top `limit` chunks.
Fetch = Callable[[list[int], int], list[tuple[Sequence, np.ndarray, object]]]


def refill(fetch: Fetch, queries: int, k: int, first: int, cap: int) -> list[tuple[object, Grouped]]:
    """Per query: its last payload and top-k documents, refilled until k, no more chunks, or `cap`."""
    out: list = [None] * queries
    pending, limit = list(range(queries)), max(1, min(first, cap))  # an empty table: one try
    while pending:
        short = []
        for index, (doc_ids, scores, payload) in zip(pending, fetch(pending, limit), strict=True):
            grouped = best_chunks(doc_ids, scores, k, limit, every_row=limit >= cap)
            out[index] = (payload, grouped)
            if not grouped.complete:
                short.append((index, len(grouped.positions)))
        if not short:
            break
        # One limit for the round, so the queries that were short stay one batch.
        limit = max(next_limit(limit, k, found, cap) for _, found in short)
        pending = [index for index, _ in short]
    return out


def as_document(hit: Hit) -> Hit:
    """A chunk's hit as its document's: the document id as the id, the chunk's text as the passage."""
    columns = dict(hit.columns)
    return Hit(str(columns.pop(DOC_ID)), hit.score, hit.text, columns)


def document_vector(chunk_vectors: np.ndarray) -> np.ndarray:
    """One unit vector for a whole document: the normalized mean of its chunks' vectors."""
    mean = np.asarray(chunk_vectors, dtype=np.float64).mean(axis=0)
    norm = np.linalg.norm(mean)
    return (mean / norm if norm > 0 else mean).astype(np.float32)
