"""One batch of HTTP calls on one table: searches answered with as few model calls as it allows.

No Ray or LanceDB here: the actor is any object with QueryActor's `search` and `search_batch`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# The most texts one search_batch call embeds: a batch of 32 requests of 64 queries each is split.
MAX_TEXTS_PER_CALL = 256


@dataclass(frozen=True)
class SearchRequest:
    """One HTTP search: texts (one, or a batch) or a vector, with its own k, filters and flags."""

    texts: tuple[str, ...] = ()
    vector: tuple[float, ...] | None = None
    k: int = 10
    filters: list | dict | None = None
    rerank: bool = False
    hybrid: bool = False
    group_by_document: bool = True  # chunked tables: documents by their best chunk, else chunks

    def group_key(self) -> tuple | None:
        """Requests with equal keys can share one search_batch call; vectors never do."""
        if self.vector is not None:
            return None
        return (self.k, json.dumps(self.filters, sort_keys=True, default=str), self.rerank,
                self.hybrid, self.group_by_document)


@dataclass(frozen=True)
class ActorCall:
    """Any other QueryActor method (similar, info): run alone, on the table's thread, in order."""

    method: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def answer_searches(actor, requests: list[SearchRequest | ActorCall]) -> list:
    """Per request, its hit lists (one per text, or one for a vector) or the exception it raised.

    An ActorCall gets the method's return value (or its exception).
    """
    # Queries in one batch may differ in k, filters, rerank and hybrid, and search_batch takes one
    # of each: requests that agree share a call (one model call for all their texts, which is
    # where the time goes); the rest run as smaller groups. A group that fails is answered one
    # request at a time, so one bad query (an empty text, a bad filter) fails only its own request.
    outcomes: list = [None] * len(requests)
    groups: dict[tuple, list[int]] = {}
    for index, request in enumerate(requests):
        key = request.group_key() if isinstance(request, SearchRequest) else None
        if key is None:
            outcomes[index] = _one(actor, request)
        else:
            groups.setdefault(key, []).append(index)
    for members in groups.values():
        for chunk in _chunks(members, requests):
            try:
                answers = _together(actor, [requests[i] for i in chunk])
            except Exception:  # noqa: BLE001 - retried one by one below, each gets its own error
                answers = [_one(actor, requests[i]) for i in chunk]
            for i, answer in zip(chunk, answers, strict=True):
                outcomes[i] = answer
    return outcomes


def _chunks(members: list[int], requests: list[SearchRequest]) -> list[list[int]]:
    """Consecutive runs of a group whose texts add up to at most MAX_TEXTS_PER_CALL."""
    chunks, current, size = [], [], 0
    for i in members:
        count = len(requests[i].texts)
        if current and size + count > MAX_TEXTS_PER_CALL:
            chunks.append(current)
            current, size = [], 0
        current.append(i)
        size += count
    return [*chunks, current] if current else chunks


def _together(actor, group: list[SearchRequest]) -> list[list]:
    """One search_batch call for the texts of requests that share k, filters and flags."""
    first = group[0]
    texts = [t for request in group for t in request.texts]
    hits = actor.search_batch(texts, first.k, first.filters, rerank=first.rerank,
                              hybrid=first.hybrid, group_by_document=first.group_by_document)
    answers, start = [], 0
    for request in group:
        answers.append(hits[start:start + len(request.texts)])
        start += len(request.texts)
    return answers


def _one(actor, request: SearchRequest | ActorCall):
    """One request on its own: its hit lists (or the call's value), or the exception it raised."""
    try:
        if isinstance(request, ActorCall):
            return getattr(actor, request.method)(*request.args, **request.kwargs)
        if request.vector is not None:
            return [actor.search(list(request.vector), request.k, request.filters,
                                 rerank=request.rerank, hybrid=request.hybrid,
                                 group_by_document=request.group_by_document)]
        return actor.search_batch(list(request.texts), request.k, request.filters,
                                  rerank=request.rerank, hybrid=request.hybrid,
                                  group_by_document=request.group_by_document)
    except Exception as exc:  # noqa: BLE001 - handed back to that request's caller
        return exc

