"""`embedfleet submit` against a real Ray head started with `ray start --head` on this machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import lance
import pytest

from jobs.service.ingress import free_ports
from storage.db import table_uri
from storage.runs import list_runs
from tests.support.corpus import corpus_records, write_jsonl

BIN = os.path.dirname(sys.executable)
PORT_FLAGS = ("--port", "--dashboard-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--metrics-export-port", "--ray-client-server-port",
              "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port")


def wait_for_http(url: str, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answered (401 without a token): the server is up
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


@pytest.fixture
def ray_head():
    """A separate Ray head: its own temp dir, free ports, token auth; stopped afterwards.

    It does not touch the session's in-process cluster: `ray stop` would stop every Ray on the
    machine, so the head runs with --block and is stopped through its own process.
    """
    temp = tempfile.mkdtemp(prefix="efhead", dir="/tmp")  # short: Ray's socket paths are limited
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=uuid.uuid4().hex,
               # Nothing to hand over when the test ends: stop at once instead of draining 30 s.
               RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
    command = [os.path.join(BIN, "ray"), "start", "--head", "--block", "--num-cpus", "2",
               "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
               "--temp-dir", temp, "--disable-usage-stats"]
    for flag, port in ports.items():
        command += [flag, str(port)]
    log = open(os.path.join(temp, "head.log"), "w")  # noqa: SIM115 - closed in the finally
    head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{ports['--dashboard-port']}"
    try:
        wait_for_http(f"{address}/api/version", 120)
        yield address, env
    finally:
        head.terminate()  # the head drains, then stops the processes it started
        try:
            head.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(30)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def submit(address, env, cwd, *args):
    return subprocess.run([os.path.join(BIN, "embedfleet"), "submit", *args, "--address", address],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.mark.slow  # a Ray head of its own, two jobs
def test_submit_runs_the_spec_as_a_ray_job_and_exits_with_its_status(ray_head, tmp_path):
    address, env = ray_head
    write_jsonl(tmp_path / "corpus.jsonl", corpus_records(50))
    # Relative paths: resolved where `embedfleet submit` runs, not in the job's working dir.
    (tmp_path / "job.yaml").write_text("table: submitted\ndb: db\nsource: [corpus.jsonl]\n"
                                       "model: {model: 'fake:16'}\ncompute: {actors: 1}\n")
    done = submit(address, env, tmp_path, "job.yaml")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "submitted job" in done.stdout and "SUCCEEDED" in done.stdout
    assert "submitted v1 (create): read 50 = embedded 50" in done.stdout  # the job's own log
    db = str(tmp_path / "db")
    assert lance.dataset(table_uri(db, "submitted")).count_rows() == 50
    assert [r["status"] for r in list_runs(db, "submitted")] == ["succeeded"]

    (tmp_path / "bad.yaml").write_text("table: other\ndb: db\nsource: [missing.jsonl]\n"
                                       "model: {model: 'fake:16'}\n")
    failed = submit(address, env, tmp_path, "bad.yaml")
    assert failed.returncode == 1
    assert "source not found" in failed.stdout and "FAILED" in failed.stderr
    assert not os.path.exists(table_uri(db, "other"))
