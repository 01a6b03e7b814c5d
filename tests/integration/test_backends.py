"""The exported CPU backends (ONNX Runtime, OpenVINO) and torch bf16 against the torch backend."""

from __future__ import annotations

import numpy as np
import pytest

from actors.config import EncoderOptions, ModelConfig
from actors.encoders import load_encoder
from actors.vectors import l2_normalize
from tests.support.corpus import corpus_records, write_jsonl
from tests.support.embedding import embed

TEXTS = ["a storm on a giant planet", "a recipe for bread", "x", "music " * 80,
         "the same words, a different order: order different a words the same"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDFLEET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def cosines(model: str, **settings) -> np.ndarray:
    reference = l2_normalize(load_encoder(ModelConfig(model=model)).embed(TEXTS))
    options = EncoderOptions(ModelConfig(model=model, **settings), max_batch_tokens=64)
    vectors = l2_normalize(load_encoder(options).embed(TEXTS))
    return np.sum(reference * vectors, axis=1)


@pytest.mark.parametrize("settings, floor", [
    ({"backend": "onnx"}, 0.99999), ({"backend": "openvino"}, 0.99999),
    ({"backend": "onnx", "quantize": "int8"}, 0.95), ({"quantize": "bf16"}, 0.99),
])
def test_backends_give_the_torch_vectors(tiny_bert, cache, settings, floor):
    assert cosines(tiny_bert, **settings).min() >= floor


def _load_onnx(model: str) -> int:
    return load_encoder(ModelConfig(model=model, backend="onnx")).dim


def test_export_happens_once_even_when_actors_race(tiny_bert, cache):
    import multiprocessing

    # Actors are processes: race two of them (threads are serialized by a lock anyway).
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(_load_onnx, [tiny_bert, tiny_bert]) == [32, 32]
    entries = sorted(p.name for p in (cache / "onnx").iterdir())
    assert len(entries) == 1 and not entries[0].startswith(".")  # no temporary folder left
    assert (cache / "onnx" / entries[0] / "model.onnx").stat().st_size > 0


def test_a_table_embedded_on_onnx_is_queried_on_onnx(ray_cluster, db, tmp_path, tiny_bert, cache):
    from actors.encoders.onnx_runtime import OnnxEncoder
    from actors.query.actor import QueryActor
    from jobs.errors import RunError
    from storage.provenance import provenance_of

    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(40))
    settings = {"model": tiny_bert, "backend": "onnx", "quantize": "int8"}
    assert embed(db, source, **settings).embedded == 40
    actor = QueryActor(db, "docs")
    assert isinstance(actor._encoder.encoder, OnnxEncoder)
    assert (actor.provenance.backend, actor.provenance.quantize) == ("onnx", "int8")
    hits = actor.search(corpus_records(40)[7]["text"], k=3)
    assert hits[0].id == "doc-0007" and hits[0].score > 0.99
    with pytest.raises(RunError, match="quantize: 'int8' != 'none'"):
        embed(db, source, **{**settings, "quantize": "none"})
    assert provenance_of(actor.schema).versions.get("onnxruntime")
