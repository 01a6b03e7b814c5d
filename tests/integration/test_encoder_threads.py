"""The CPU threads capacity planning gives an actor reach the ONNX Runtime and OpenVINO sessions."""

from __future__ import annotations

import os

import pytest

from actors.config import EncoderOptions, ModelConfig
from actors.embedder import Embedder, usable_threads
from actors.encoders import load_encoder
from jobs.config import build_config
from jobs.embed.capacity import actor_resources
from jobs.embed.pool import encoder_options


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One export cache for the module, so the tiny BERT is exported once per backend graph."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDFLEET_CACHE", str(path))
        yield path


def session_threads(encoder) -> int:
    """The intra-op threads the encoder's runtime session was built with."""
    if hasattr(encoder, "session"):  # ONNX Runtime
        return encoder.session.get_session_options().intra_op_num_threads
    return int(encoder.compiled.get_property("INFERENCE_NUM_THREADS"))  # OpenVINO


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
@pytest.mark.parametrize("threads", [1, 2])
def test_encoder_options_threads_reach_the_session(tiny_bert, cache, backend, threads):
    encoder = load_encoder(EncoderOptions(ModelConfig(model=tiny_bert, backend=backend),
                                          threads=threads))
    assert session_threads(encoder) == threads
    assert encoder.embed(["a storm on a giant planet"]).shape == (1, 32)


def test_threads_planned_for_an_actor_reach_its_onnx_session(ray_cluster, tiny_bert, cache):
    config = build_config({"table": "t", "paths": ["x.jsonl"], "model": tiny_bert,
                           "backend": "onnx", "cpus_per_actor": 2})
    c = config.compute
    resources = actor_resources(4, 0, c.min_actors, c.max_actors, c.cpus_per_actor, None)
    assert (resources.cpus, resources.threads) == (2.0, 2)
    # The embedder pool's actor, built from the options the pool passes (jobs/embed/pool.py).
    actor = ray_cluster.remote(Embedder).options(
        num_cpus=resources.cpus, runtime_env={"env_vars": {"EMBEDFLEET_CACHE": str(cache)}}
    ).remote(encoder_options(config, resources))
    try:
        threads, cores = ray_cluster.get(actor.__ray_call__.remote(
            lambda embedder: (embedder.encoder.session.get_session_options().intra_op_num_threads,
                              len(os.sched_getaffinity(0)))), timeout=300)
    finally:
        ray_cluster.kill(actor)
    # Planned 2; an actor that may run on fewer cores runs that many threads (usable_threads).
    assert threads == min(2, cores)


def test_an_actor_never_runs_more_threads_than_the_cores_it_may_use():
    cores = len(os.sched_getaffinity(0))
    assert usable_threads(None) is None  # the library's default, which already counts cores
    assert usable_threads(1) == 1
    assert usable_threads(cores + 3) == cores
