"""Reciprocal-rank fusion of ranked lists (hybrid search): pure Python, LanceDB's RRF formula."""

from __future__ import annotations

from dataclasses import replace

from actors.query.results import Hit

# The RRF constant of Cormack et al. (2009) and LanceDB's RRFReranker default.
RRF_K = 60


def reciprocal_rank_fusion(rankings: list[list[str]], k: int, constant: int = RRF_K
                           ) -> list[tuple[str, float]]:
    """The k best (id, score) by sum of 1 / (rank + constant) over the lists, ranks from 1.

    Ties keep first-seen order (the lists in the order given), as LanceDB's RRFReranker
    merges vector results before full-text ones.
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (rank + constant)
    # sorted() is stable and dicts keep insertion order: ties stay in first-seen order.
    return sorted(scores.items(), key=lambda item: -item[1])[:k]


def fuse_hits(dense: list[Hit], keyword: list[Hit], k: int) -> list[Hit]:
    """Vector and BM25 hits fused by reciprocal rank; each Hit scored by its RRF relevance."""
    by_id = {h.id: h for h in keyword} | {h.id: h for h in dense}
    fused = reciprocal_rank_fusion([[h.id for h in dense], [h.id for h in keyword]], k)
    return [replace(by_id[i], score=score) for i, score in fused]
