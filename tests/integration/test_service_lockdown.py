"""The HTTP service locked down: loopback by default, bearer token, limits, no raw SQL, no pickles."""

from __future__ import annotations

import json
import os
import pickle
import urllib.request

import pytest

from tests.support.embedding import copy_db
from tests.support.http_client import call
from tests.support.loadgen import ServeProcess, free_port, listening_addresses, run_load

TOKEN = "correct-horse-battery"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(ray_cluster, fake_sample_db, tmp_path_factory):
    """`embedfleet serve` joined to the session's Ray: no --host, the token from $EMBEDFLEET_TOKEN."""
    root = tmp_path_factory.mktemp("locked")
    address = ray_cluster.get_runtime_context().gcs_address
    with ServeProcess(copy_db(fake_sample_db, root), free_port(), str(root / "serve.log"),
                      env={"EMBEDFLEET_TOKEN": TOKEN}, address=address) as running:
        yield running


def test_listens_on_loopback_only_by_default(server):
    assert listening_addresses(server.port) == {"127.0.0.1"}


def test_every_api_call_needs_the_bearer_token_from_the_environment(server):
    for path in ("/tables", "/tables/sample", "/tables/sample/search?q=x",
                 "/tables/sample/similar/astronomy-001", "/tables/sample/projection?n=10"):
        status, body = call(server.url + path)
        assert status == 401 and "bearer token" in body["error"], path
        assert call(server.url + path, headers={"Authorization": "Bearer wrong"})[0] == 401
    assert call(server.url + "/tables", headers=AUTH) == (200, {"tables": ["sample"]})
    # The page itself carries no data; it asks for the token and sends it with each call.
    assert call(server.url + "/")[0] == 200


@pytest.mark.parametrize("path, data, status, message", [
    ("/tables/sample/search?q=x&k=1001", None, 422, "less than or equal to 1000"),
    ("/tables/sample/search", json.dumps({"queries": ["x"] * 65}).encode(), 422, "at most 64"),
    ("/tables/sample/search", json.dumps({"query": "x" * (1 << 20)}).encode(), 413, "over"),
    ("/tables/sample/search?q=" + "x" * 10_001, None, 422, "at most 10000"),
    ("/tables/sample/search?q=x&filters=" + urllib.request.quote("year >= 2000 OR 1=1"), None, 400,
     "not valid JSON"),
    ("/tables/sample/search?q=x&filters=" + urllib.request.quote('"year >= 2000"'), None, 400,
     "must be a JSON list"),
    ("/tables/sample__runs/search?q=x", None, 400, "invalid table name"),
])
def test_limits_names_and_no_raw_sql(server, path, data, status, message):
    got, body = call(server.url + path, data, AUTH)
    assert got == status and message in body["error"], body


def test_path_traversal_in_a_table_name_goes_nowhere(server):
    for path in ("/tables/..%2F..%2Fetc/search?q=x", "/tables/%2E%2E/search?q=x",
                 "/tables/..%2Fsample"):
        status, body = call(server.url + path, headers=AUTH)
        assert status in (400, 404) and "error" in body, (path, body)


def test_injection_values_stay_literals(server):
    for value in ("' OR '1'='1", "1; --", "space') OR ('1'='1"):
        filters = urllib.request.quote(json.dumps([{"column": "topic", "op": "=", "value": value}]))
        status, body = call(server.url + f"/tables/sample/search?q=x&k=5&filters={filters}",
                            headers=AUTH)
        assert status == 200 and body["hits"] == [], value


class Trap:
    """Unpickling this creates a folder: a server that ever unpickled a body would leave it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_pickled_bodies_are_refused_on_every_post_endpoint_and_never_unpickled(server, tmp_path):
    pickle.loads(pickle.dumps(Trap(str(tmp_path / "armed"))))  # the trap does spring when loaded
    assert os.path.isdir(tmp_path / "armed")
    marker = str(tmp_path / "unpickled")
    payload = pickle.dumps(Trap(marker))
    paths = call(server.url + "/openapi.json", headers=AUTH)[1]["paths"]
    posts = [p.format(table="sample", doc_id="astronomy-001") for p, ops in paths.items()
             if "post" in ops]
    assert "/tables/sample/search" in posts
    for path in posts:
        for content_type in ("application/octet-stream", "application/python-pickle",
                             "application/json"):
            status, body = call(server.url + path, payload, AUTH, content_type=content_type)
            assert 400 <= status < 500 and isinstance(body, dict), (path, content_type, body)
            assert set(body) == {"error"} and "Traceback" not in body["error"], body
            if path == "/tables/sample/search":
                assert status == 400 and "not valid JSON" in body["error"], body
    assert not os.path.exists(marker)


def test_bounded_load_from_8_clients_has_no_errors(server):
    queries = ["storm on a planet", "jazz", "football", "bread", "kings", "rain", "dogs", "code"]
    paths = [f"/tables/sample/search?k=10&q={urllib.request.quote(q)}" for q in queries]
    result = run_load(server.url, paths, clients=8, seconds=5, max_requests=2000, headers=AUTH)
    summary = result.summary()
    assert summary["errors"] == 0, summary
    assert summary["requests"] >= 8
