"""Shared fixtures: one local Ray cluster per session, temp LanceDB folders, a tiny random BERT."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = REPO / "examples" / "sample_corpus.jsonl"
EVAL_DIR = REPO.parent / "shared" / "eval"

os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "EMBEDFLEET_FAULT_DIR" not in os.environ:
    # Set before any Ray worker starts, so the fault-injection encoders of every cluster see it.
    os.environ["EMBEDFLEET_FAULT_DIR"] = tempfile.mkdtemp(prefix="embedfleet-faults-")
    atexit.register(shutil.rmtree, os.environ["EMBEDFLEET_FAULT_DIR"], True)


def start_local_ray():
    """Connect this process to a fresh local Ray cluster with 4 logical CPUs."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False, logging_level=logging.WARNING)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster shared by the session (4 logical CPUs on any machine)."""
    import ray

    if not ray.is_initialized():
        start_local_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """Path of a tiny random BERT sentence-transformers model built for this session."""
    from tests.tiny_model import build_tiny_bert

    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture
def faults():
    """The fault-injection encoders' folder, emptied for this test (see tests/fault_encoders.py)."""
    from tests.fault_control import FaultControl

    control = FaultControl(Path(os.environ["EMBEDFLEET_FAULT_DIR"]))
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def db(tmp_path) -> str:
    """A fresh LanceDB folder."""
    return str(tmp_path / "db")


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write records as JSON lines and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def corpus_records(n: int, prefix: str = "doc") -> list[dict]:
    """n distinct small documents with a topic and a year."""
    topics = ["space", "food", "music", "sport"]
    return [{"id": f"{prefix}-{i:04d}", "text": f"{topics[i % 4]} note number {i} about {topics[i % 4]}",
             "topic": topics[i % 4], "year": 2000 + i % 25} for i in range(n)]
