"""The service's micro-batcher, search grouping, exposure check and colour choice (no Ray, no model)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest

from jobs.cli.serve import check_exposure, is_loopback
from jobs.service.batching import BatcherClosed, MicroBatcher
from jobs.service.maps import category_column
from jobs.service.searches import MAX_TEXTS_PER_CALL, ActorCall, SearchRequest, answer_searches
from storage.errors import ConfigError


class Recorder:
    """A handler that doubles numbers, fails on negatives, and remembers each batch it got."""

    def __init__(self, delay: float = 0.0):
        self.batches, self.delay, self.threads = [], delay, set()

    def __call__(self, items: list) -> list:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return [ValueError(f"negative {i}") if i < 0 else i * 2 for i in items]


def test_concurrent_items_form_batches_and_each_gets_its_own_answer():
    handler = Recorder(delay=0.05)
    batcher = MicroBatcher(handler, max_batch=8, max_wait=0.01, name="t")
    with ThreadPoolExecutor(16) as pool:
        futures = list(pool.map(batcher.submit, range(40)))
    assert [f.result(10) for f in futures] == [i * 2 for i in range(40)]
    assert max(len(b) for b in handler.batches) == 8 and len(handler.batches) < 40
    assert sorted(i for b in handler.batches for i in b) == list(range(40))
    assert handler.threads == {"t"}  # one worker: the model is never used by two threads
    batcher.close()


def test_max_batch_one_turns_batching_off_and_errors_stay_with_their_item():
    handler = Recorder()
    batcher = MicroBatcher(handler, max_batch=1, max_wait=0.01)
    futures = [batcher.submit(i) for i in (1, -2, 3)]
    assert futures[0].result(5) == 2 and futures[2].result(5) == 6
    with pytest.raises(ValueError, match="negative -2"):
        futures[1].result(5)
    assert all(len(b) == 1 for b in handler.batches)
    batcher.close()


def test_a_lone_item_waits_at_most_the_max_wait():
    batcher = MicroBatcher(Recorder(), max_batch=32, max_wait=0.02)
    start = time.perf_counter()
    assert batcher.submit(5).result(5) == 10
    assert time.perf_counter() - start < 2  # bounded; the exact wait is for benchmarks
    batcher.close()


def test_a_failing_handler_fails_its_batch_and_the_worker_lives_on():
    calls = []

    def handler(items):
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return items

    batcher = MicroBatcher(handler, max_batch=4, max_wait=0)
    with pytest.raises(RuntimeError, match="boom"):
        batcher.submit(1).result(5)
    assert batcher.submit(2).result(5) == 2
    batcher.close()


def test_close_answers_what_is_queued_then_refuses():
    batcher = MicroBatcher(Recorder(delay=0.02), max_batch=2, max_wait=0)
    futures = [batcher.submit(i) for i in range(5)]
    batcher.close()
    assert [f.result(5) for f in futures] == [0, 2, 4, 6, 8]
    with pytest.raises(BatcherClosed):
        batcher.submit(9)
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_batch=0)


class FakeActor:
    """search/search_batch that record their calls; the text 'bad' is refused like an empty query."""

    def __init__(self):
        self.calls = []

    def search_batch(self, texts, k=10, filters=None, rerank=False, hybrid=False,
                     group_by_document=True):
        self.calls.append(("batch", tuple(texts), k, hybrid))
        if "bad" in texts:
            raise ValueError("query text is empty")
        return [[f"{t}@{k}{'h' if hybrid else ''}{'' if group_by_document else 'p'}"] for t in texts]

    def search(self, query, k=10, filters=None, rerank=False, hybrid=False, group_by_document=True):
        self.calls.append(("one", tuple(query), k, hybrid))
        return [f"vector@{k}{'' if group_by_document else 'p'}"]

    def similar(self, doc_id, k=10):
        if doc_id == "missing":
            raise LookupError(doc_id)
        return [f"near {doc_id}@{k}"]


def test_compatible_requests_share_one_call_and_others_get_their_own():
    actor = FakeActor()
    requests = [SearchRequest(("a",), k=5), SearchRequest(("b", "c"), k=5),
                SearchRequest(("d",), k=3), SearchRequest(vector=(1.0, 0.0), k=2),
                SearchRequest(("e",), k=5, hybrid=True),
                SearchRequest(("f",), k=5, filters=[{"column": "t", "op": "=", "value": 1}]),
                SearchRequest(("g",), k=5, group_by_document=False),
                SearchRequest(vector=(0.0, 1.0), k=2, group_by_document=False)]
    out = answer_searches(actor, requests)
    assert out == [[["a@5"]], [["b@5"], ["c@5"]], [["d@3"]], [["vector@2"]], [["e@5h"]], [["f@5"]],
                   [["g@5p"]], [["vector@2p"]]]
    batch_calls = [c for c in actor.calls if c[0] == "batch"]
    assert ("batch", ("a", "b", "c"), 5, False) in batch_calls and len(batch_calls) == 5
    assert ("batch", ("e",), 5, True) in batch_calls


def test_one_bad_query_fails_only_its_own_request():
    actor = FakeActor()
    out = answer_searches(actor, [SearchRequest(("a",)), SearchRequest(("bad",)), SearchRequest(("c",))])
    assert out[0] == [["a@10"]] and out[2] == [["c@10"]]
    assert isinstance(out[1], ValueError) and "empty" in str(out[1])


def test_other_actor_calls_run_in_the_same_batch_on_their_own():
    out = answer_searches(FakeActor(), [ActorCall("similar", ("x",), {"k": 2}), SearchRequest(("a",)),
                                        ActorCall("similar", ("missing",))])
    assert out[0] == ["near x@2"] and out[1] == [["a@10"]] and isinstance(out[2], LookupError)


def test_a_large_group_is_split_into_bounded_model_calls():
    actor = FakeActor()
    requests = [SearchRequest(tuple(f"q{i}-{j}" for j in range(64))) for i in range(10)]
    out = answer_searches(actor, requests)
    assert [len(o) for o in out] == [64] * 10 and out[3][5] == ["q3-5@10"]
    assert all(len(c[1]) <= MAX_TEXTS_PER_CALL for c in actor.calls) and len(actor.calls) == 3


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.com", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_a_network_host_needs_a_token_or_an_explicit_opt_out():
    with pytest.raises(ConfigError, match="--token TOKEN or set \\$EMBEDFLEET_TOKEN.*--no-token"):
        check_exposure("0.0.0.0", None, False)
    check_exposure("0.0.0.0", "secret", False)
    check_exposure("0.0.0.0", None, True)
    check_exposure("127.0.0.1", None, False)


def test_category_column_picks_a_small_categorical_column():
    rows = 100
    sample = pa.table({"title": [f"t{i}" for i in range(rows)], "year": list(range(rows)),
                       "flag": [True] * rows, "topic": ["a", "b", "c", None] * (rows // 4)})
    assert category_column(sample) == "topic"  # titles are labels, one value is no category
    assert category_column(sample.select(["title", "year"])) is None
    coded = pa.table({"kind": pa.array(["x", "y"] * 10).dictionary_encode()})
    assert category_column(coded) == "kind"
