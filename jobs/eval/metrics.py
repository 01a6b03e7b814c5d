"""Evaluation metrics in plain numpy: Spearman, and nDCG@k / recall@k as trec_eval computes them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def rank_average(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of the ranks they span (scipy's 'average')."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equally long vectors."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    denominator = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if denominator == 0:
        raise ValueError("correlation of a constant vector is undefined")
    return float(np.dot(x, y)) / denominator


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation: Pearson of the average ranks."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("spearman needs two vectors of the same length >= 2")
    return pearson(rank_average(x), rank_average(y))


def trec_order(ranking: Sequence[tuple[str, float]]) -> list[str]:
    """Document ids as trec_eval ranks them: score descending, ties by doc id descending."""
    by_id = sorted(ranking, key=lambda pair: pair[0], reverse=True)
    return [doc for doc, _ in sorted(by_id, key=lambda pair: -pair[1])]  # stable: keeps id order


def ndcg_at_k(ranking: Sequence[tuple[str, float]], qrels: Mapping[str, int], k: int) -> float:
    """nDCG@k of one query: gain = relevance, log2(rank + 1) discount, ideal DCG from the qrels."""
    ideal_gains = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
    if ideal == 0:
        return 0.0
    docs = trec_order(ranking)[:k]
    dcg = sum(max(qrels.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(docs))
    return dcg / ideal


def recall_at_k(ranking: Sequence[tuple[str, float]], qrels: Mapping[str, int], k: int) -> float:
    """Share of the query's relevant documents (relevance > 0) found in the top k."""
    relevant = {doc for doc, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(trec_order(ranking)[:k])) / len(relevant)


def mean_over_queries(metric, rankings: Mapping[str, Sequence[tuple[str, float]]],
                      qrels: Mapping[str, Mapping[str, int]], k: int) -> float:
    """Average of a per-query metric over every query in the qrels (a missing ranking scores 0)."""
    if not qrels:
        raise ValueError("no judged queries")
    return float(np.mean([metric(rankings.get(q, []), judged, k) for q, judged in qrels.items()]))
