"""A three-node cluster (a CPU head, two workers with 2 logical GPUs each): placement and faults.

One `ray.cluster_utils.Cluster` serves the whole module; the session's local cluster is shut
down for it and started again after it, so the module is marked `restarts_ray` (tests/conftest.py
orders it). Faults come from tests/support/fault_encoders.py SlowRecording: each call sleeps,
and each load and call leaves a trace to time a fault by.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import lance
import pytest
from ray._common.utils import get_ray_address_file

from jobs.ray_connect import keep_workers_warm
from storage.db import table_uri
from tests.support.corpus import REPO, corpus_records, write_jsonl
from tests.support.embedding import embed, wait_until
from tests.support.fault_control import FaultControl
from tests.support.ray_session import start_session_ray

pytestmark = [pytest.mark.restarts_ray, pytest.mark.slow]
WORKER = {"num_cpus": 2, "num_gpus": 2}
SLOW = {"model": FaultControl.model, "batch_size": 20}  # SlowRecording, 15 batches of 300 rows
ADDRESS_FILE = Path(get_ray_address_file(None))  # /tmp/ray/ray_current_cluster


def _restore(saved: str | None) -> None:
    # Cluster() points `ray.init()` of every process on this machine at itself through this
    # file; put back what was there so other Ray users here keep their own cluster.
    if saved is None:
        ADDRESS_FILE.unlink(missing_ok=True)
    else:
        ADDRESS_FILE.write_text(saved)


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    session_was_up = ray.is_initialized()
    ray.shutdown()  # the session's cluster: started again below for the tests after this module
    keep_workers_warm(2)  # its nodes are started here, as a local cluster's would be
    saved = ADDRESS_FILE.read_text() if ADDRESS_FILE.exists() else None
    nodes = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "num_gpus": 0, "include_dashboard": False,
        # A crashed node is declared dead after 3 missed 1 s health checks, not Ray's 5 x 3 s.
        "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}})
    _restore(saved)
    for _ in range(2):
        nodes.add_node(**WORKER)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, logging_level=logging.WARNING)
    try:
        yield nodes
    finally:
        ray.shutdown()
        saved = ADDRESS_FILE.read_text() if ADDRESS_FILE.exists() else None
        nodes.shutdown()
        _restore(saved)
        if session_was_up:
            start_session_ray()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "c.jsonl", corpus_records(300))


@pytest.fixture(scope="module")
def clean(cluster, corpus, tmp_path_factory):
    """A run without faults, 4 actors x 1 GPU: its summary, its model loads, its rows."""
    control = FaultControl(Path(os.environ["EMBEDFLEET_FAULT_DIR"]))
    control.reset()
    db = str(tmp_path_factory.mktemp("clean") / "db")
    summary = run_with_all_actors(control, lambda: embed(db, corpus, **SLOW, actors=4, gpus_per_actor=1), 4)
    return SimpleNamespace(summary=summary, loads=control.loads(), rows=rows(db), db=db)


def rows(db):
    """What a fault must not change: every row's id, text, vector and content hash, by id."""
    data = lance.dataset(table_uri(db, "docs")).to_table(
        columns=["id", "text", "vector", "content_hash"]).sort_by("id")
    assert len(set(data.column("id").to_pylist())) == data.num_rows, "duplicate ids"
    return data


def worker_ids(cluster) -> set[str]:
    return {node.node_id for node in cluster.worker_nodes}


def wait_for(condition) -> None:
    assert wait_until(condition, 180), "timed out"


def run_in_background(call) -> tuple[threading.Thread, dict]:
    outcome = {}

    def target():
        try:
            outcome["summary"] = call()
        except Exception as exc:  # noqa: BLE001 - asserted by the caller
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def run_with_all_actors(faults: FaultControl, call, actors: int):
    """Run with slow batches until every actor has loaded: Ray Data starts actors as it goes."""
    faults.set_delay(1.0)
    thread, outcome = run_in_background(call)
    wait_for(lambda: len(faults.loads()) >= actors)
    faults.set_delay(0)
    thread.join()
    assert "error" not in outcome, outcome
    return outcome["summary"]


def test_gpu_actors_spread_over_both_workers_load_once_and_fall_back_to_cpu(cluster, clean):
    summary, loads, data = clean.summary, clean.loads, clean.rows
    assert summary.embedded == data.num_rows == 300
    assert len(loads) == 4 and len({load["pid"] for load in loads}) == 4
    assert Counter(load["node"] for load in loads) == {node: 2 for node in worker_ids(cluster)}
    # Two logical GPUs per worker, one per actor: each actor has its own, yet runs on the CPU.
    assert sorted((load["node"], tuple(load["gpus"])) for load in loads) == sorted(
        (node, (gpu,)) for node in worker_ids(cluster) for gpu in ("0", "1"))
    assert {load["device"] for load in loads} == {"cpu"}
    assert all(actor.endswith(":cpu:load1") for actor in summary.actors), summary.actors
    assert {actor.split(":")[0] for actor in summary.actors} <= {n[:12] for n in worker_ids(cluster)}


def test_half_gpu_actors_pack_two_per_gpu(cluster, corpus, clean, db, faults):
    summary = run_with_all_actors(faults, lambda: embed(db, corpus, **SLOW, actors=4, gpus_per_actor=0.5),
                                  4)
    loads = faults.loads()
    assert len(loads) == 4 and {load["device"] for load in loads} == {"cpu"}
    per_gpu = Counter((load["node"], tuple(load["gpus"])) for load in loads)
    assert sorted(per_gpu.values()) == [2, 2], per_gpu
    assert rows(db).equals(clean.rows) and summary.embedded == 300


def test_a_killed_embedder_actor_is_replaced_and_no_row_is_lost_or_doubled(cluster, corpus,
                                                                            clean, db, faults):
    faults.set_delay(1.0)  # slow batches until the replacement is up, then full speed
    thread, outcome = run_in_background(lambda: embed(db, corpus, **SLOW, actors=2))
    wait_for(lambda: len(faults.loads()) == 2 and faults.calls())
    os.kill(faults.calls()[0], signal.SIGKILL)
    wait_for(lambda: len(faults.loads()) == 3)  # Ray restarted it: one more model load
    faults.set_delay(0)
    thread.join()
    assert "error" not in outcome, outcome
    assert rows(db).equals(clean.rows)
    assert outcome["summary"].embedded == 300


def test_a_worker_node_lost_mid_run_costs_no_row(cluster, corpus, clean, db, faults):
    faults.set_delay(1.0)
    thread, outcome = run_in_background(lambda: embed(db, corpus, **SLOW, actors=2))
    wait_for(lambda: len(faults.loads()) == 2 and faults.calls())
    first = faults.loads()
    lost = next(n for n in cluster.worker_nodes if n.node_id == first[0]["node"])
    try:
        cluster.remove_node(lost, allow_graceful=False)  # a crash: no draining
        wait_for(lambda: len(faults.loads()) > len(first))  # its actor started again elsewhere
        assert all(load["node"] != lost.node_id for load in faults.loads() if load not in first)
        faults.set_delay(0)
        thread.join()
    finally:
        cluster.add_node(**WORKER)  # the next tests get two workers again
    assert "error" not in outcome, outcome
    assert rows(db).equals(clean.rows)
    assert outcome["summary"].embedded == 300


def test_a_driver_killed_mid_run_leaves_the_previous_version_and_a_rerun_completes(
        cluster, corpus, clean, db, faults, capsys):
    from jobs.cli.main import main
    from jobs.embed.__main__ import main as embed_command

    shutil.copytree(clean.db, db)  # the clean table less 200 rows, for an incremental run
    lance.dataset(table_uri(db, "docs")).delete("id >= 'doc-0100'")
    before = rows(db)
    assert before.num_rows == 100
    # Small writes: fragments land while the run is still embedding, as on a big corpus.
    command = [sys.executable, "-m", "jobs.embed", str(corpus), "--table", "docs", "--db", db,
               "--model", FaultControl.model, "--batch-size", "20", "--actors", "2",
               "--settings", '{"write_batch_rows": 40}', "--address", cluster.address, "--json"]
    faults.set_delay(1.0)
    driver = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    staged = Path(db)
    wait_for(lambda: list(staged.glob("docs__staging_*/written/*.parquet")))  # batches written
    driver.send_signal(signal.SIGKILL)
    driver.wait(60)
    assert lance.dataset(table_uri(db, "docs")).version == 2
    assert rows(db).equals(before)

    faults.set_delay(0)
    capsys.readouterr()
    # The same command again, in this process (already joined to the cluster): no second start-up.
    assert embed_command(command[3:]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Resumed: what the dead run wrote is reused, the rest embedded, in one commit.
    assert summary["resumed"] > 0 and summary["embedded"] + summary["resumed"] == 200
    assert (summary["skipped_unchanged"], summary["version"]) == (100, 3)
    assert rows(db).equals(clean.rows)
    assert list(staged.glob("docs__staging_*")) == []  # committed: its staging area is gone
    assert main(["cleanup", "docs", "--db", db, "--older-than", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["staging"] == []
    assert rows(db).equals(clean.rows)
    assert lance.dataset(table_uri(db, "docs"), version=2).count_rows() == 100
