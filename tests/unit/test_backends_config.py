"""Backend and quantize settings: validation, content-hash fingerprint, provenance, batching default."""

from __future__ import annotations

import json

import pytest

from actors.config import ModelConfig, model_config_of
from actors.encoders.batching import default_batch_tokens
from jobs.config import build_config
from storage.errors import ConfigError
from storage.provenance import Provenance, config_differences, config_fingerprint


def test_quantize_must_suit_the_backend():
    assert ModelConfig(backend="onnx", quantize="int8").quantize == "int8"
    assert ModelConfig(backend="openvino", quantize="bf16").backend == "openvino"
    assert ModelConfig(backend="torch", quantize="bf16").quantize == "bf16"
    with pytest.raises(ConfigError, match="not available with backend 'torch'"):
        ModelConfig(quantize="int8")
    with pytest.raises(ConfigError, match="backend must be one of"):
        ModelConfig(backend="tensorrt")


def test_settings_reach_the_model_config():
    config = build_config({"table": "t", "paths": ["x.jsonl"], "backend": "onnx", "quantize": "int8"})
    assert (config.model.backend, config.model.quantize) == ("onnx", "int8")
    assert config.compute.max_batch_tokens is None


def test_fingerprint_of_unquantized_runs_is_unchanged_so_existing_hashes_hold():
    model = ModelConfig()
    assert config_fingerprint(model) == json.dumps(["all-MiniLM-L6-v2", "", None, None, "torch",
                                                    "float32"])
    assert config_fingerprint(ModelConfig(backend="onnx", quantize="int8")) != config_fingerprint(
        ModelConfig(backend="onnx"))


def test_provenance_records_quantize_and_reads_tables_written_before_it():
    old = {"model": "m", "dim": 4, "native_dim": 4, "truncate_dim": None, "normalized": True,
           "doc_prefix": "", "query_prefix": "", "max_seq_length": None, "backend": "torch",
           "dtype": "float32"}
    assert model_config_of(Provenance.from_json(json.dumps(old))).quantize == "none"
    int8 = Provenance.build(ModelConfig(model="m", backend="onnx", quantize="int8"), 4, 4)
    assert Provenance.from_json(int8.to_json()).quantize == "int8"
    before = model_config_of(Provenance.from_json(json.dumps({**old, "backend": "onnx"})))
    assert config_differences(before, model_config_of(int8)) == ["quantize: 'none' != 'int8'"]


def test_default_micro_batch_budget_depends_on_the_device():
    assert default_batch_tokens("cpu") < default_batch_tokens("cuda") == default_batch_tokens("cuda:1")
