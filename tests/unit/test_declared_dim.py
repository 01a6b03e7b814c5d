"""A model's dimension from its name or config files, so a bad --truncate-dim fails before any work."""

from __future__ import annotations

import json

import pytest

from actors.config import ModelConfig
from actors.encoders import check_truncation, known_dim
from actors.encoders.models import declared_dimension
from storage.errors import ConfigError

TRANSFORMER = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}


def model_folder(tmp_path, modules: list[tuple[str, dict | None]]):
    """A sentence-transformers folder: modules.json and each module's config.json, no weights."""
    entries = [TRANSFORMER]
    for i, (kind, config) in enumerate(modules, 1):
        path = f"{i}_{kind}"
        entries.append({"idx": i, "name": str(i), "path": path,
                        "type": f"sentence_transformers.models.{kind}"})
        if config is not None:
            (tmp_path / path).mkdir()
            (tmp_path / path / "config.json").write_text(json.dumps(config))
    (tmp_path / "modules.json").write_text(json.dumps(entries))
    return str(tmp_path)


def test_the_packaged_default_model_declares_384():
    assert declared_dimension("all-MiniLM-L6-v2") == 384 == known_dim(ModelConfig())


@pytest.mark.parametrize("modules, dim", [
    ([("Pooling", {"embedding_dimension": 32, "pooling_mode": "mean"})], 32),
    ([("Pooling", {"embedding_dimension": 32, "pooling_mode": ["mean", "max"]})], 64),
    ([("Pooling", {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True,
                   "pooling_mode_cls_token": False})], 384),
    ([("Pooling", {"word_embedding_dimension": 16, "pooling_mode_mean_tokens": True,
                   "pooling_mode_cls_token": True})], 32),
    ([("Pooling", {"embedding_dimension": 32, "pooling_mode": "cls"}),
      ("Dense", {"in_features": 32, "out_features": 8}), ("Normalize", None)], 8),
])
def test_dimension_from_pooling_and_dense_configs(tmp_path, modules, dim):
    assert declared_dimension(model_folder(tmp_path, modules)) == dim


@pytest.mark.parametrize("modules", [
    [("Pooling", {"embedding_dimension": 32}), ("LSTM", {"hidden_dim": 7})],  # unknown module
    [("Pooling", {"pooling_mode": "mean"})],  # no dimension in the config
    [("Pooling", None)],  # config file missing
    [],  # a bare transformer: its width is in the weights' config, not a pooled output
])
def test_no_dimension_when_the_files_do_not_say_it_reliably(tmp_path, modules):
    assert declared_dimension(model_folder(tmp_path, modules)) is None


def test_names_that_tell_nothing_without_loading():
    assert known_dim(ModelConfig(model="fake:48")) == 48
    assert known_dim(ModelConfig(model="fake:many")) is None  # the encoder reports the bad name
    assert known_dim(ModelConfig(model="python:some.module:factory")) is None
    assert known_dim(ModelConfig(model="org/not-downloaded-model")) is None


def test_check_truncation_refuses_only_what_it_knows_is_too_long():
    check_truncation(ModelConfig(model="fake:64", truncate_dim=64))
    check_truncation(ModelConfig(model="python:some.module:factory", truncate_dim=10**6))
    with pytest.raises(ConfigError, match=r"larger than the dimension of model 'fake:64' \(64\)"):
        check_truncation(ModelConfig(model="fake:64", truncate_dim=100_000))
