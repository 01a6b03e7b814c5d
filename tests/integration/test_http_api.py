"""The HTTP API in-process (FastAPI test client): every endpoint, its bad inputs and its errors."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from actors.query.actor import QueryActor
from jobs.service.app import MAX_BODY, Tables, build_app
from jobs.service.searches import SearchRequest
from tests.support.embedding import copy_db

QUERY = "a storm on a giant planet"


@pytest.fixture(scope="module")
def http_db(fake_sample_db, tmp_path_factory):
    """This module's copy of the session's sample table: projections add a cache table to it."""
    return copy_db(fake_sample_db, tmp_path_factory.mktemp("http"))


@pytest.fixture(scope="module")
def client(http_db):
    return TestClient(build_app(Tables(http_db, max_open=2)), raise_server_exceptions=False)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "Traceback" not in body["error"]
    return body["error"]


def alike(got: list[dict], expected: list[dict]) -> bool:
    """Same rows in the same order, scores equal to float32 rounding (batches multiply as matrices)."""
    return [{**h, "score": None} for h in got] == [{**h, "score": None} for h in expected] and \
        all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(got, expected, strict=True))


def test_page_health_tables_info_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "function Scatter" in page.text
    assert "<script src" not in page.text and "https://" not in page.text
    assert client.get("/health").json() == {"ok": True}
    assert client.get("/tables").json() == {"tables": ["sample"]}
    info = client.get("/tables/sample").json()
    assert info["rows"] == 300 and info["dim"] == 64 and "topic" in info["filter_columns"]
    assert info["color_by"] == "topic"  # the page opens its map coloured by it
    assert "vector" not in info["filter_columns"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/tables", "/tables/{table}", "/tables/{table}/search", "/tables/{table}/similar/{doc_id}",
            "/tables/{table}/projection"} <= set(paths)
    assert set(paths["/tables/{table}/search"]) == {"get", "post"}


def test_search_get_and_post_match_the_query_actor(client, http_db):
    expected = [h.to_dict() for h in QueryActor(http_db, "sample").search(QUERY, 5)]
    got = client.get("/tables/sample/search", params={"q": QUERY, "k": 5}).json()
    assert got["hits"] == expected and got["k"] == 5 and got["query"] == QUERY
    posted = client.post("/tables/sample/search", json={"query": QUERY, "k": 5}).json()
    assert posted["hits"] == expected
    batch = client.get("/tables/sample/search", params=[("q", QUERY), ("q", "baking bread")]).json()
    assert [r["query"] for r in batch["results"]] == [QUERY, "baking bread"]
    assert alike(batch["results"][0]["hits"][:5], expected) and len(batch["results"][1]["hits"]) == 10
    posted = client.post("/tables/sample/search", json={"queries": [QUERY, "jazz"], "k": 3}).json()
    assert [len(r["hits"]) for r in posted["results"]] == [3, 3]


def test_structured_filters_and_vector_queries(client, http_db):
    filters = [{"column": "topic", "op": "=", "value": "music"},
               {"column": "year", "op": ">=", "value": 2000}]
    got = client.get("/tables/sample/search",
                     params={"q": QUERY, "k": 50, "filters": json.dumps(filters)}).json()
    assert got["hits"] and all(h["topic"] == "music" and h["year"] >= 2000 for h in got["hits"])
    posted = client.post("/tables/sample/search", json={"query": QUERY, "k": 50, "filters": filters}).json()
    assert posted["hits"] == got["hits"]
    vector = QueryActor(http_db, "sample").embed_query(QUERY).tolist()
    by_vector = client.post("/tables/sample/search", json={"query": vector, "k": 3}).json()
    by_text = client.get("/tables/sample/search", params={"q": QUERY, "k": 3}).json()
    assert [h["id"] for h in by_vector["hits"]] == [h["id"] for h in by_text["hits"]]


def test_hybrid_flag_reaches_the_query_actor(client, http_db):
    from storage.index import build_text_index

    assert client.get("/tables/sample").json()["hybrid"] is False  # the page greys its toggle
    build_text_index(http_db, "sample")
    assert client.get("/tables/sample").json()["hybrid"] is True
    expected = [h.to_dict() for h in QueryActor(http_db, "sample").search(QUERY, 5, hybrid=True)]
    got = client.get("/tables/sample/search", params={"q": QUERY, "k": 5, "hybrid": "true"}).json()
    assert got["hits"] == expected
    posted = client.post("/tables/sample/search", json={"query": QUERY, "k": 5, "hybrid": True}).json()
    assert posted["hits"] == expected
    plain = client.get("/tables/sample/search", params={"q": QUERY, "k": 5}).json()["hits"]
    assert [h["score"] for h in plain] != [h["score"] for h in expected]  # RRF scores, not cosine


def same_ranking(got, expected) -> bool:
    """Equal scores rank for rank (to float32 rounding); ids equal wherever the score is not tied.

    Batched and single queries multiply different matrix shapes, so rows the hashing encoder
    scores exactly alike may come back in either order (the last one may tie with row k+1).
    """
    def tied(i: int) -> bool:
        return i == len(expected) - 1 or any(
            j != i and abs(h.score - expected[i].score) < 1e-5 for j, h in enumerate(expected))

    return len(got) == len(expected) and all(
        abs(a.score - b.score) < 1e-5 and (a.id == b.id or tied(i))
        for i, (a, b) in enumerate(zip(got, expected, strict=True)))


def test_concurrent_searches_share_model_calls_and_match_one_at_a_time(http_db):
    tables = Tables(http_db, max_batch=8, max_wait_ms=50)
    actor = tables.get("sample")
    calls, search_batch = [], actor.search_batch

    def counted(texts, *args, **kwargs):
        calls.append(len(texts))
        return search_batch(texts, *args, **kwargs)

    actor.search_batch = counted  # the real method, counted: how many texts each model call got
    requests = [SearchRequest((f"{word} number {i}",), k=3 + i % 2)
                for i, word in enumerate(["storm", "bread", "jazz", "goal", "rain", "code"] * 4)]
    alone = [search_batch(list(r.texts), r.k) for r in requests]
    with ThreadPoolExecutor(len(requests)) as pool:
        together = list(pool.map(lambda r: tables.search("sample", r), requests))
    assert all(same_ranking(hits[0], a[0]) for hits, a in zip(together, alone, strict=True))
    assert len(calls) < len(requests) and max(calls) > 1 and sum(calls) == len(requests)


def test_similar_and_projection(client):
    hits = client.get("/tables/sample/similar/astronomy-001", params={"k": 4}).json()["hits"]
    assert len(hits) == 4 and "astronomy-001" not in [h["id"] for h in hits]
    data = client.get("/tables/sample/projection",
                      params={"n": 60, "seed": 1, "color_by": "topic", "text_chars": 20}).json()
    assert data["n"] == 60 and len(data["points"]) == 60 and data["color_by"] == "topic"
    assert all(len(p["text"]) <= 20 and "color" in p for p in data["points"])
    again = client.get("/tables/sample/projection", params={"n": 60, "seed": 1}).json()
    assert again["cached"] and [p["x"] for p in again["points"]] == [p["x"] for p in data["points"]]


@pytest.mark.parametrize("path, params, status, message", [
    ("/tables/nope", None, 404, "no table 'nope'"),
    ("/tables/nope/search", {"q": "x"}, 404, "no table 'nope'"),
    ("/tables/bad__name/search", {"q": "x"}, 400, "invalid table name"),
    ("/tables/sample/search", {"q": "x", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ("/tables/sample/search", {"q": "x", "k": 1001}, 422, "k: Input should be less than or equal to 1000"),
    ("/tables/sample/search", {"q": "x", "k": "ten"}, 422, "k: Input should be a valid integer"),
    ("/tables/sample/search", {}, 422, "q: Field required"),
    ("/tables/sample/search", {"q": "   "}, 400, "query text is empty"),
    ("/tables/sample/search", {"q": "x", "filters": "[{oops"}, 400, "filters is not valid JSON"),
    ("/tables/sample/search", {"q": "x", "filters": '"topic = 1"'}, 400, "filters must be a JSON list"),
    ("/tables/sample/search", {"q": "x", "filters": '[{"column": "colour", "op": "=", "value": 1}]'},
     400, "unknown filter column 'colour'"),
    ("/tables/sample/search", {"q": "x", "filters": '[{"column": "year", "op": "=", "value": "old"}]'},
     400, "does not fit column year"),
    ("/tables/sample/similar/no-such-id", None, 404, "no row with id 'no-such-id'"),
    ("/tables/sample/similar/astronomy-001", {"k": 5000}, 422, "k: Input should be less than"),
    ("/tables/sample/projection", {"n": 0}, 422, "n: Input should be greater than or equal to 1"),
    ("/tables/sample/projection", {"n": 10**6}, 422, "n: Input should be less than"),
    ("/tables/sample/projection", {"color_by": "colour"}, 400, "cannot colour by 'colour'"),
    ("/tables/nope/projection", None, 404, "no table 'nope'"),
    ("/no/such/route", None, 404, "Not Found"),
])
def test_bad_get_requests_are_json_4xx(client, path, params, status, message):
    assert message in error_of(client.get(path, params=params), status)


@pytest.mark.parametrize("body, status, message", [
    (b'{"query": "x", ', 400, "request body is not valid JSON"),
    (b"not json", 400, "request body is not valid JSON"),
    (b'{"query": "x", "k": 5000}', 422, "k: Input should be less than or equal to 1000"),
    (b'{"query": "x", "limit": 5}', 422, "limit: Extra inputs are not permitted"),
    (b'{"k": 5}', 422, 'exactly one of "query" and "queries"'),
    (b'{"query": "x", "queries": ["y"]}', 422, 'exactly one of "query" and "queries"'),
    (b'{"query": [1.0, 2.0]}', 400, "query vector has 2 dimensions"),
    (b'{"queries": []}', 422, "queries: List should have at least 1 item"),
    (b'{"query": "x", "filters": [{"column": "nope", "op": "=", "value": 1}]}', 400,
     "unknown filter column 'nope'"),
    (b'{"query": "x", "filters": [{"column": "topic", "op": "like", "value": "a"}]}', 400,
     "unknown filter operator"),
])
def test_bad_post_bodies_are_json_4xx(client, body, status, message):
    response = client.post("/tables/sample/search", content=body,
                           headers={"content-type": "application/json"})
    assert message in error_of(response, status)


def test_oversized_body_and_huge_query_are_refused(client):
    big = json.dumps({"query": "x" * (MAX_BODY + 10)}).encode()
    assert "over" in error_of(client.post("/tables/sample/search", content=big), 413)
    assert "at most" in error_of(client.get("/tables/sample/search", params={"q": "x" * 20_000}), 422)


def test_unexpected_errors_are_json_500_without_details(http_db, monkeypatch):
    tables = Tables(http_db)
    monkeypatch.setattr(tables, "names", lambda: (_ for _ in ()).throw(RuntimeError("secret detail")))
    client = TestClient(build_app(tables), raise_server_exceptions=False)
    message = error_of(client.get("/tables"), 500)
    assert "secret" not in message and "internal error" in message


def test_bearer_token_guards_the_api_but_not_the_page(http_db):
    client = TestClient(build_app(Tables(http_db), token="s3cret"), raise_server_exceptions=False)
    assert "bearer token" in error_of(client.get("/tables"), 401)
    assert client.get("/tables").headers["www-authenticate"] == "Bearer"
    assert error_of(client.get("/tables", headers={"Authorization": "Bearer wrong"}), 401)
    assert client.get("/tables", headers={"Authorization": "Bearer s3cret"}).json() == {"tables": ["sample"]}
    assert client.get("/").status_code == 200 and client.get("/health").status_code == 200
