"""One config end to end: to_dict/from_dict round trips, and what submit and schedule ship."""

from __future__ import annotations

import argparse
import json
import shlex
import time
from dataclasses import replace

import pytest

from actors.config import ModelConfig
from jobs.config import ComputeConfig, EmbedConfig, SourceConfig, build_config
from jobs.embed.command import add_embed_arguments, embed_settings
from jobs.ops.launch import JobRun, ProcessRun
from jobs.ops.submit import entrypoint, job_config, submit
from storage.errors import ConfigError

CONFIG = EmbedConfig(
    table="docs", db="/srv/db", mode="incremental", delete_missing=True,
    source=SourceConfig(paths=("/data/a.jsonl", "s3://bucket/b.csv"), format="auto",
                        id_column="doc_id", text_column="body"),
    model=ModelConfig(model="fake:32", truncate_dim=16, doc_prefix="passage: ",
                      query_prefix="query: ", max_seq_length=128, keep_full=True),
    compute=ComputeConfig(min_actors=2, max_actors=4, cpus_per_actor=1.5, batch_size=64,
                          max_batch_tokens=4096, write_batch_rows=1000),
    ray_address="10.0.0.1:6379", index_threshold=500, index_type="hnsw", run_id="r-1")


def job_side(argv: list[str]) -> EmbedConfig:
    """The config `python -m jobs.embed ARGV` builds (its own parser and settings merge)."""
    parser = argparse.ArgumentParser()
    add_embed_arguments(parser)
    return build_config(embed_settings(parser.parse_args(argv)))


class RecordingJobClient:
    """Keeps what would go to the Ray job API: this test reads the entrypoint, runs nothing."""

    def __init__(self):
        self.submitted: list[dict] = []

    def submit_job(self, **kwargs) -> str:
        self.submitted.append(kwargs)
        return f"job-{len(self.submitted)}"


def test_to_dict_and_from_dict_round_trip_exactly_tuples_included():
    data = CONFIG.to_dict()
    assert set(data) == {"table", "db", "mode", "delete_missing", "source", "model", "compute",
                         "ray_address", "index_threshold", "index_type", "run_id", "dry_run", "fresh",
                         "max_chunks"}
    assert data["source"]["paths"] == ("/data/a.jsonl", "s3://bucket/b.csv")
    assert data["model"]["truncate_dim"] == 16 and data["compute"]["max_actors"] == 4
    assert EmbedConfig.from_dict(data) == CONFIG
    through_json = EmbedConfig.from_dict(json.loads(json.dumps(data)))
    assert through_json == CONFIG and isinstance(through_json.source.paths, tuple)
    minimal = EmbedConfig(table="t", db="./db", source=SourceConfig(paths=("x.jsonl",)))
    assert EmbedConfig.from_dict(json.loads(json.dumps(minimal.to_dict()))) == minimal


def test_from_dict_refuses_unknown_or_malformed_settings():
    data = CONFIG.to_dict()
    with pytest.raises(ConfigError, match="unknown setting.*: colour"):
        EmbedConfig.from_dict({**data, "colour": "red"})
    with pytest.raises(ConfigError, match=r"unknown setting.*: model\.pooling"):
        EmbedConfig.from_dict({**data, "model": {**data["model"], "pooling": "cls"}})
    with pytest.raises(ConfigError, match="'compute' must be a mapping"):
        EmbedConfig.from_dict({**data, "compute": 4})
    with pytest.raises(ConfigError, match=r"'source\.paths' must be a list"):
        EmbedConfig.from_dict({**data, "source": {**data["source"], "paths": "a.jsonl"}})
    with pytest.raises(ConfigError, match="no table name"):
        EmbedConfig.from_dict({k: v for k, v in data.items() if k != "table"})
    with pytest.raises(ConfigError, match="mapping of settings"):
        EmbedConfig.from_dict(["table", "docs"])


def test_build_config_takes_the_nested_form_too():
    assert build_config(CONFIG.to_dict()) == CONFIG
    assert build_config(json.loads(json.dumps(CONFIG.to_dict()))) == CONFIG


def test_the_job_reads_the_shipped_dict_and_flags_override_single_settings():
    shipped = json.dumps(CONFIG.to_dict())
    assert job_side(["--settings", shipped]) == CONFIG
    changed = job_side(["--settings", shipped, "--truncate-dim", "8", "--actors", "1",
                        "--run-id", "r-2", "/data/c.jsonl"])
    # Each flag replaces one setting; the rest of its section stays as shipped.
    assert changed.model == replace(CONFIG.model, truncate_dim=8)
    assert changed.compute == replace(CONFIG.compute, min_actors=1, max_actors=1)
    assert changed.source == replace(CONFIG.source, paths=("/data/c.jsonl",))
    assert changed.run_id == "r-2" and changed.index_type == "hnsw"
    with pytest.raises(ConfigError, match="unknown setting"):
        job_side(["--settings", json.dumps({**CONFIG.to_dict(), "colour": "red"})])
    with pytest.raises(ConfigError, match="must be a JSON object"):
        job_side(["--settings", "[1, 2]"])


def test_submit_ships_the_built_config_which_the_job_rebuilds_equal(tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text("table: docs\ndb: db\nsource: [data/a.jsonl]\nray_address: 10.0.0.1:6379\n"
                    "model: {model: 'fake:16', truncate_dim: 8, doc_prefix: 'passage: '}\n"
                    "compute: {actors: '1,3', batch_size: 32}\nindex_type: hnsw\n")
    config = job_config(str(spec), {"mode": "rebuild"}, cwd=str(tmp_path))
    client = RecordingJobClient()
    assert submit(client, config) == "job-1"
    words = shlex.split(client.submitted[0]["entrypoint"])
    assert words[:4] == ["python", "-m", "jobs.embed", "--settings"]
    assert json.loads(words[4]) == json.loads(json.dumps(config.to_dict()))  # the whole config
    rebuilt = job_side(words[3:])
    assert rebuilt == config and rebuilt.ray_address is None  # the job joins its own cluster
    assert rebuilt.source.paths == (str(tmp_path / "data" / "a.jsonl"),)
    assert rebuilt.db == str(tmp_path / "db") and rebuilt.model.truncate_dim == 8
    assert client.submitted[0]["metadata"]["embedfleet_table"] == "docs"


def test_a_scheduled_job_ships_the_config_with_its_run_id(tmp_path):
    config = replace(CONFIG, ray_address=None, run_id=None)
    client = RecordingJobClient()
    run = JobRun(client, config, "20260101T000000-abc123")
    sent = client.submitted[0]
    assert run.job_id == "job-1" and sent["submission_id"] == "embedfleet-docs-20260101T000000-abc123"
    assert job_side(shlex.split(sent["entrypoint"])[3:]) == replace(config,
                                                                     run_id="20260101T000000-abc123")
    assert entrypoint(config.to_dict()) == shlex.join(["python", "-m", "jobs.embed", "--settings",
                                                       json.dumps(config.to_dict())])


def test_a_local_scheduled_run_gets_the_whole_config(tmp_path):
    # A real `python -m jobs.embed` subprocess: the source is missing, so it stops before Ray
    # starts, naming the absolute path and table it was given.
    missing = tmp_path / "nowhere" / "c.jsonl"
    config = EmbedConfig(table="sched", db=str(tmp_path / "db"),
                         source=SourceConfig(paths=(str(missing),)),
                         model=ModelConfig(model="fake:16"))
    run = ProcessRun(config, "r-local")
    deadline = time.monotonic() + 120
    while (status := run.poll()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == "failed"
    assert "exit code 2" in run.message and f"source not found: {missing}" in run.message
