"""User errors as one line on every interface: the CLI, the job entry point and the HTTP API.

Covers the k limit of each interface, a --truncate-dim over the model's dimension (refused
before anything is embedded where the dimension is known, by the actor otherwise), and a
message with a newline.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from actors.query.actor import QueryActor, QueryError
from actors.query.defaults import MAX_K
from jobs.cli.main import main
from jobs.service.app import HTTP_MAX_K, Tables, build_app
from storage.db import table_exists
from storage.errors import UserError
from storage.runs import list_runs
from tests.support.corpus import corpus_records, write_jsonl


def one_error_line(capsys, alone: bool = True) -> str:
    """The one line embedfleet wrote to stderr; `alone`: nothing else was written there either.

    A run that got as far as the cluster also has Ray's own log lines (and a worker's traceback,
    which Ray prints itself) on stderr; embedfleet's report of it must still be one line.
    """
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("embedfleet:")]
    assert len(ours) == 1, err
    if alone:
        assert err.strip() == ours[0], err
    return ours[0]


def test_truncate_dim_over_a_fake_models_dimension_stops_before_embedding(ray_cluster, db, tmp_path,
                                                                           capsys):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(5))
    code = main(["embed", str(source), "--table", "docs", "--db", db, "--model", "fake:64",
                 "--truncate-dim", "100000"])
    line = one_error_line(capsys)
    assert code == 2
    assert line == ("embedfleet: error: --truncate-dim 100000 is larger than the dimension of "
                    "model 'fake:64' (64); use at most 64")
    assert not table_exists(db, "docs") and list_runs(db, "docs") == []  # nothing ran
    assert main(["embed", str(source), "--table", "docs", "--db", db, "--model", "fake:64",
                 "--truncate-dim", "64"]) == 0


def test_a_sentence_transformers_models_dimension_is_read_from_its_files(ray_cluster, db, tmp_path,
                                                                         tiny_bert, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(5))
    code = main(["embed", str(source), "--table", "docs", "--db", db, "--model", tiny_bert,
                 "--truncate-dim", "33"])
    assert code == 2 and "(32); use at most 32" in one_error_line(capsys)
    assert list_runs(db, "docs") == []


def test_a_dimension_only_the_loaded_model_knows_is_refused_by_the_actor_in_one_line(
        ray_cluster, db, tmp_path, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(5))
    # A user's factory: its 16-dim encoder exists only once the actor has built it.
    code = main(["embed", str(source), "--table", "docs", "--db", db, "--model",
                 "python:tests.support.fault_encoders:poisoned_rows", "--truncate-dim", "17"])
    line = one_error_line(capsys, alone=False)
    assert code == 1 and "left at its previous version" in line
    assert "ConfigError: --truncate-dim 17 is larger than the dimension" in line and "(16)" in line
    assert not table_exists(db, "docs")


def test_k_over_the_query_actors_limit_is_a_one_line_error(fake_sample_db, capsys):
    actor = QueryActor(fake_sample_db, "sample")
    with pytest.raises(QueryError) as raised:
        actor.search("storm", k=MAX_K + 1)
    assert str(raised.value) == f"k must be an integer from 1 to {MAX_K}, got {MAX_K + 1}"
    for call in (lambda: actor.similar("astronomy-001", k=MAX_K + 1),
                 lambda: actor.arithmetic("storm - rain", k=MAX_K + 1)):
        with pytest.raises(QueryError, match=f"from 1 to {MAX_K}"):
            call()
    code = main(["query", "sample", "storm", "-k", str(MAX_K + 1), "--db", fake_sample_db])
    assert code == 2
    assert one_error_line(capsys) == (f"embedfleet: error: k must be an integer from 1 to {MAX_K}, "
                                      f"got {MAX_K + 1}")
    assert main(["similar", "sample", "astronomy-001", "-k", str(MAX_K + 1),
                 "--db", fake_sample_db]) == 2
    assert f"from 1 to {MAX_K}" in one_error_line(capsys)


def test_k_over_the_http_limit_is_a_422_json_error(fake_sample_db):
    client = TestClient(build_app(Tables(fake_sample_db)), raise_server_exceptions=False)
    too_many = HTTP_MAX_K + 1
    for response in (client.get("/tables/sample/search", params={"q": "storm", "k": too_many}),
                     client.post("/tables/sample/search", json={"query": "storm", "k": too_many}),
                     client.get("/tables/sample/similar/astronomy-001", params={"k": too_many})):
        assert response.status_code == 422
        assert response.json() == {"error": f"k: Input should be less than or equal to {HTTP_MAX_K}"}
    at_limit = client.get("/tables/sample/search", params={"q": "storm", "k": HTTP_MAX_K})
    assert at_limit.status_code == 200 and len(at_limit.json()["hits"]) == 300  # every row


def test_a_user_error_with_a_newline_is_one_line_in_the_cli_and_the_job(tmp_path, capsys):
    from jobs.embed.__main__ import main as job_main

    spec = tmp_path / "bad.yaml"
    spec.write_text("table: docs\nsource: [a.jsonl\nmodel: {model: 'fake:16'}\n")  # unclosed [
    for run in (lambda: main(["embed", "--spec", str(spec)]), lambda: job_main(["--spec", str(spec)])):
        assert run() == 2
        line = one_error_line(capsys)
        assert line.startswith(f"embedfleet: error: spec file {spec} is not valid YAML: ")
        assert "line 3" in line  # YAML's own multi-line message, folded into this one line


def test_a_user_error_with_a_newline_is_one_json_error_over_http(tmp_path):
    app = build_app(Tables(str(tmp_path / "db")))

    @app.get("/fails")
    def fails() -> dict:
        raise UserError("first line\n  second line")

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/fails")
    assert response.status_code == 400 and response.json() == {"error": "first line second line"}
    missing = client.get("/tables/nope")
    assert missing.status_code == 404 and set(missing.json()) == {"error"}
    assert "\n" not in missing.json()["error"]


def test_restoring_a_version_that_does_not_exist_is_one_line(fake_sample_db, capsys):
    assert main(["restore", "sample", "99", "--db", fake_sample_db]) == 2
    assert "table 'sample' has no version 99 (versions: 1)" in one_error_line(capsys)
