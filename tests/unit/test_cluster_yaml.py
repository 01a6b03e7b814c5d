"""cluster.yaml passes the validation `ray up` runs, and keeps the promises it makes."""

from __future__ import annotations

import copy

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.support.corpus import REPO

CLUSTER = REPO / "cluster.yaml"


def load() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def test_cluster_yaml_passes_rays_own_validation():
    # What `ray up` does before it calls the cloud: fill in the provider's defaults, validate.
    prepared = prepare_config(copy.deepcopy(load()))
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


def test_cpu_head_and_a_gpu_worker_type_that_scales_from_zero():
    config = load()
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] > 0
    gpu_workers = [t for name, t in types.items()
                   if name != config["head_node_type"] and t["resources"].get("GPU", 0) >= 1]
    assert gpu_workers
    assert all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in gpu_workers)
    assert config["max_workers"] >= max(t["max_workers"] for t in gpu_workers)


def test_setup_installs_this_project_on_every_node():
    config = load()
    target = next(remote for remote, local in config["file_mounts"].items() if local == ".")
    setup = " ".join(config["setup_commands"])
    assert f"pip install --python ~/venv/bin/python -e {target}" in setup
    assert "--python 3.11" in setup  # pyproject asks for Python >= 3.11
    assert ".venv" in config["rsync_exclude"] and "lancedb" in config["rsync_exclude"]


def test_dashboard_is_bound_to_loopback_and_no_port_is_opened():
    config = load()
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "0.0.0.0" not in CLUSTER.read_text()
    assert not config["provider"].get("security_group", {}).get("IpPermissions")
