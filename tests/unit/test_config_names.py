import os

import pytest

from jobs.config import build_config, load_spec, parse_actors
from jobs.embed.capacity import IO_STAGES, IO_TASK_CPUS, actor_resources, capacity_problem
from jobs.ray_internals import size_data_limits_by_cluster
from storage.errors import ConfigError
from storage.names import TableNameError, companion, is_companion, validate_table_name


def test_build_config_from_flat_settings():
    config = build_config({"table": "docs", "paths": ["a.jsonl"], "actors": "2,8",
                           "truncate_dim": 128, "model": "fake:16", "gpus_per_actor": 0.5})
    assert config.compute.min_actors == 2 and config.compute.max_actors == 8
    assert config.model.truncate_dim == 128 and config.source.paths == ("a.jsonl",)
    assert config.compute.gpus_per_actor == 0.5


def test_spec_sections_and_flag_override(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("table: docs\nsource: [c.jsonl]\nmodel:\n  model: fake:8\n  doc_prefix: 'passage: '\n"
                    "compute:\n  batch_size: 64\n")
    settings = load_spec(spec)
    settings.update({"batch_size": 32})
    config = build_config(settings)
    assert config.model.doc_prefix == "passage: " and config.compute.batch_size == 32
    assert config.source.paths == ("c.jsonl",)


@pytest.mark.parametrize("settings, message", [
    ({"paths": ["a"]}, "table"),
    ({"table": "t"}, "SOURCE"),
    ({"table": "t", "paths": ["a"], "mode": "upsert"}, "mode"),
    ({"table": "t", "paths": ["a"], "truncate_dim": 0}, "truncate_dim"),
    ({"table": "t", "paths": ["a"], "colour": "red"}, "unknown setting"),
    ({"table": "t", "paths": ["a"], "actors": "3,1"}, "actors"),
])
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        build_config(settings)


def test_bad_spec_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_spec(tmp_path / "list.yaml")


def test_parse_actors():
    assert parse_actors("4") == (4, 4) and parse_actors("1,3") == (1, 3)
    with pytest.raises(ConfigError):
        parse_actors("a,b")


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "a..b", "x__rejects", "a b", "é"])
def test_unsafe_table_names_are_refused(name):
    with pytest.raises(TableNameError):
        validate_table_name(name)


def test_table_names_and_companions():
    assert validate_table_name("docs-2024_v1") == "docs-2024_v1"
    assert companion("docs", "rejects") == "docs__rejects" and is_companion("docs__runs")


def test_cpu_actors_share_the_cpus_and_leave_room_for_reading():
    one = actor_resources(2, 0, 1, 1, None, None)
    assert one.gpus == 0 and one.threads == 2 and one.cpus + 0.25 <= 2
    two = actor_resources(2, 0, 2, 2, None, None)
    assert two.threads == 1 and capacity_problem(2, 0, 2, two) is None
    # Every I/O stage at its cap fits in what the actors leave, so none waits on another's CPUs.
    for pool, actors in ((one, 1), (two, 2)):
        assert pool.io_tasks >= 2
        assert actors * pool.cpus + IO_STAGES * pool.io_tasks * IO_TASK_CPUS <= 2 - 0.01
    assert actor_resources(64, 8, 8, 8, None, None).io_tasks > 100  # a GPU node's spare CPUs


def test_gpu_actors_and_capacity_problems():
    gpu = actor_resources(8, 4, 4, 4, None, None)
    assert (gpu.gpus, gpu.cpus) == (1.0, 1.0) and capacity_problem(8, 4, 4, gpu) is None
    assert "GPU" in capacity_problem(8, 2, 4, gpu)
    assert "CPU" in capacity_problem(2, 0, 2, actor_resources(2, 0, 2, 2, 1.0, 0))
    half = actor_resources(8, 2, 4, 4, None, 0.5)
    assert capacity_problem(8, 2, 4, half) is None


def test_ray_data_budgets_by_the_cluster_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("RAY_DATA_CLUSTER_AUTOSCALER", raising=False)
    size_data_limits_by_cluster()
    assert os.environ["RAY_DATA_CLUSTER_AUTOSCALER"] == "V2"
    monkeypatch.setenv("RAY_DATA_CLUSTER_AUTOSCALER", "RATE_BASED")
    size_data_limits_by_cluster()
    assert os.environ["RAY_DATA_CLUSTER_AUTOSCALER"] == "RATE_BASED"
