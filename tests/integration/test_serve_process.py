"""`embedfleet serve` as its users run it: ready means ready, SIGTERM stops it, no open network door."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from actors.query.actor import QueryActor
from tests.support.corpus import REPO
from tests.support.embedding import copy_db
from tests.support.http_client import call
from tests.support.loadgen import ServeProcess, free_port, listening_addresses


def test_first_query_after_ready_is_fast_and_sigterm_stops_it_with_exit_0(
        ray_cluster, minilm_sample_db, tmp_path):
    address = ray_cluster.get_runtime_context().gcs_address
    server = ServeProcess(copy_db(minilm_sample_db, tmp_path), free_port(), str(tmp_path / "serve.log"),
                          address=address)
    with server:  # returns once `serve` printed its "serving" line
        start = time.perf_counter()
        status, found = call(server.url + "/tables/sample/search?k=3&q="
                             + urllib.request.quote("a storm on a giant planet"))
        first = time.perf_counter() - start
        assert status == 200 and found["hits"][0]["topic"] == "astronomy", found
        # The replica loaded the real model before it reported ready: no user pays for it.
        assert first < 1.0, f"first query took {first:.2f} s"
        code, seconds = server.stop()
        log = open(server.log_path).read()
    assert code == 0 and seconds < 10, (code, seconds, log[-2000:])
    assert "stopping the service" in log
    assert not listening_addresses(server.port)


def test_a_network_host_without_a_token_is_refused_with_the_way_out():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "EMBEDFLEET_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "jobs.cli.main", "serve", "--host", "0.0.0.0",
                           "--port", str(port), "--db", "/nonexistent"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert message.startswith("embedfleet: error: --host 0.0.0.0 serves every table to the network")
    assert "--token TOKEN" in message and "$EMBEDFLEET_TOKEN" in message and "--no-token" in message
    assert "Traceback" not in done.stderr and not listening_addresses(port)


@pytest.mark.slow  # a Ray cluster of its own
def test_the_haproxy_ingress_answers_on_loopback_and_sigterm_stops_haproxy_too(
        fake_sample_db, tmp_path):
    # The hashing encoder's table: this is about the ingress, and the test above serves the real
    # model (its replica's imports and load cost seconds of CPU a second time).
    query = "a storm on a giant planet"
    expected = [hit.to_dict() for hit in QueryActor(fake_sample_db, "sample").search(query, 3)]
    # Its own local Ray (address 'local'): Serve reads the HAProxy settings when its processes start.
    server = ServeProcess(copy_db(fake_sample_db, tmp_path), free_port(), str(tmp_path / "serve.log"),
                          args=("--ingress", "haproxy"))
    with server:
        status, found = call(server.url + "/tables/sample/search?k=3&q=" + urllib.request.quote(query))
        assert status == 200 and found["hits"] == expected, found
        front = [c.pid for c in psutil.net_connections("tcp")
                 if c.status == "LISTEN" and c.laddr.port == server.port]
        assert [psutil.Process(pid).name() for pid in front] == ["haproxy"]
        assert listening_addresses(server.port) == {"127.0.0.1"}
        code, seconds = server.stop()
        log = open(server.log_path).read()
    assert code == 0 and seconds < 10, (code, seconds, log[-2000:])
    assert not listening_addresses(server.port)
    assert not psutil.pid_exists(front[0]) or psutil.Process(front[0]).status() == psutil.STATUS_ZOMBIE


def test_the_haproxy_ingress_on_a_cluster_started_without_it_is_refused(ray_cluster, tmp_path):
    address = ray_cluster.get_runtime_context().gcs_address
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "jobs.cli.main", "serve", "--ingress", "haproxy",
                           "--address", address, "--port", str(port), "--db", str(tmp_path / "db")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("embedfleet: error: --ingress haproxy: the Ray cluster this joined "
                              "was started without RAY_SERVE_ENABLE_HA_PROXY=1"), done.stderr
    assert "--ingress python" in message and "Traceback" not in done.stderr
    assert not listening_addresses(port)
