"""Shared fixtures: a Ray cluster per test process; the models and sample tables built once per run."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.built_once import built_once
from tests.support.corpus import SAMPLE_CORPUS

# CI draws the same property-test examples every run, so a pass there stays a pass (a lone
# no-break space once failed a chunking property at random); other runs draw new ones and
# keep exploring.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1"... under `pytest -n N`
if XDIST_WORKER:
    # Two workers share the cores, and so do their models' OpenMP threads: spinning while they
    # wait, two 2-thread encodes at once each ran 1.45x slower than alone twice over; yielding
    # (passive), 1.0x. Set before torch loads; the worker's Ray cluster and subprocesses inherit it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "EMBEDFLEET_FAULT_DIR" not in os.environ or XDIST_WORKER:
    # Set before any Ray worker starts, so the fault-injection encoders of every cluster see it;
    # a parallel worker has its own cluster and its own folder.
    os.environ["EMBEDFLEET_FAULT_DIR"] = tempfile.mkdtemp(prefix="embedfleet-faults-")
    atexit.register(shutil.rmtree, os.environ["EMBEDFLEET_FAULT_DIR"], True)

# Fixtures that start Ray or load a model: a test using one is not a pure-logic test.
HEAVY_FIXTURES = {"ray_cluster", "tiny_bert", "minilm", "fake_sample_db", "minilm_sample_db"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark Ray and model tests `heavy`; order the files (see below)."""
    for item in items:
        if HEAVY_FIXTURES & set(item.fixturenames) or "integration" in item.path.parts:
            item.add_marker(pytest.mark.heavy)
    if XDIST_WORKER:
        # Parallel workers are handed files in this order (make test passes
        # --no-loadscope-reorder, else xdist puts the files with the most tests first): the long
        # ones (a `slow` test) first, so the short ones fill the end and neither worker is left
        # running a long file alone.
        long_files = {item.path for item in items if item.get_closest_marker("slow")}
        items.sort(key=lambda item: item.path not in long_files)
    else:
        # In one process the tests that restart Ray go last: no test after them pays the restart.
        items.sort(key=lambda item: item.get_closest_marker("restarts_ray") is not None)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster shared by the session (4 logical CPUs on any machine)."""
    import ray

    from tests.support.ray_session import start_session_ray

    start_session_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """Path of a tiny random BERT sentence-transformers model built for this test run."""
    from tests.support.tiny_model import build_tiny_bert

    return built_once(tmp_path_factory, "tiny-bert", build_tiny_bert)


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 loaded once in this process, as plain sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    from actors.encoders.models import resolve_model_source

    return SentenceTransformer(resolve_model_source("all-MiniLM-L6-v2"), device="cpu")


@pytest.fixture(scope="session")
def fake_sample_db(ray_cluster, tmp_path_factory) -> str:
    """The sample corpus as table 'sample' (hashing encoder, 64 dims); read-only, modules copy it."""
    return built_once(tmp_path_factory, "fake-sample", lambda folder: sample_db(folder, model="fake:64"))


@pytest.fixture(scope="session")
def minilm_sample_db(ray_cluster, tmp_path_factory) -> str:
    """The sample corpus as table 'sample', embedded by the real MiniLM; read-only like the above."""
    return built_once(tmp_path_factory, "minilm-sample", lambda folder: sample_db(folder, batch_size=64))


def sample_db(folder: Path, **settings) -> str:
    """The sample corpus embedded as table 'sample' in a database in `folder`."""
    from tests.support.embedding import embed

    db = str(folder / "db")
    embed(db, SAMPLE_CORPUS, table="sample", **settings)
    return db


@pytest.fixture
def faults():
    """The fault-injection encoders' folder, emptied for this test (see support/fault_encoders.py)."""
    from tests.support.fault_control import FaultControl

    control = FaultControl(Path(os.environ["EMBEDFLEET_FAULT_DIR"]))
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def db(tmp_path) -> str:
    """A fresh LanceDB folder."""
    return str(tmp_path / "db")
