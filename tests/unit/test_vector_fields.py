"""The one list of vector-deciding fields (VECTOR_FIELDS) drives all four places that use it."""

from __future__ import annotations

import ast
import dataclasses
import json

import pytest

import actors.config
import storage.provenance
from actors.config import ModelConfig, model_config_of
from storage.provenance import (
    VECTOR_FIELDS,
    Provenance,
    VectorField,
    config_differences,
    config_fingerprint,
    vector_field_names,
)
from tests.support.corpus import REPO


@pytest.fixture
def pooling_field(monkeypatch):
    """VECTOR_FIELDS with one more field, 'pooling', and a ModelConfig that has it."""
    extended = dataclasses.make_dataclass(
        "PoolingModelConfig", [("pooling", str, dataclasses.field(default="mean"))],
        bases=(ModelConfig,), frozen=True)
    monkeypatch.setattr(storage.provenance, "VECTOR_FIELDS", (*VECTOR_FIELDS, VectorField("pooling")))
    monkeypatch.setattr(actors.config, "ModelConfig", extended)  # what model_config_of builds
    return extended


def test_a_field_added_to_the_list_reaches_all_four_places(pooling_field):
    mean, cls = pooling_field(model="m"), pooling_field(model="m", pooling="cls")
    # 1. the content hash: the new field counts once it is set, so existing hashes hold
    assert config_fingerprint(mean) == json.dumps(["m", "", None, None, "torch", "float32"])
    assert config_fingerprint(cls) != config_fingerprint(mean)
    # 2. the check that refuses to mix vectors made differently
    assert config_differences(mean, cls) == ["pooling: 'mean' != 'cls'"]
    # 3. the provenance stored in the table
    stored = Provenance.build(cls, 8, 8).to_json()
    assert json.loads(stored)["pooling"] == "cls"
    read = Provenance.from_json(stored)
    assert read.pooling == "cls" and read.settings["pooling"] == "cls"
    # 4. the model config the query side rebuilds
    rebuilt = model_config_of(read)
    assert isinstance(rebuilt, pooling_field) and rebuilt.pooling == "cls" and rebuilt == cls


def test_the_list_and_the_model_config_name_the_same_fields():
    assert set(vector_field_names()) == {f.name for f in dataclasses.fields(ModelConfig)}
    assert len(vector_field_names()) == len(set(vector_field_names()))


def test_todays_fingerprints_are_unchanged_so_existing_tables_stay_incremental():
    assert config_fingerprint(ModelConfig()) == json.dumps(
        ["all-MiniLM-L6-v2", "", None, None, "torch", "float32"])
    assert config_fingerprint(ModelConfig(model="m", doc_prefix="passage: ", max_seq_length=128,
                                          truncate_dim=64, backend="onnx", quantize="int8")) \
        == json.dumps(["m", "passage: ", 128, 64, "onnx", "float32", "int8"])
    assert config_fingerprint(ModelConfig(model="m", dtype="float16")) == json.dumps(
        ["m", "", None, None, "torch", "float16"])
    # The query prefix and keep_full do not change a document's vector.
    assert config_fingerprint(ModelConfig(model="m", query_prefix="q: ", truncate_dim=4,
                                          keep_full=True)) == config_fingerprint(
        ModelConfig(model="m", truncate_dim=4))


def literal_field_lists(tree: ast.AST) -> list[int]:
    """Lines of literals (list, tuple, set, dict keys) or calls naming 5+ vector fields by hand.

    Fewer is a choice of settings (the flags eval passes on); five or more is a copy of the list.
    """
    names = set(vector_field_names())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Call):
            items = [ast.Constant(k.arg) for k in node.keywords if k.arg]
        else:
            continue
        named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
        if len(named) >= 5:
            found.append(node.lineno)
    return found


def test_no_module_writes_its_own_list_of_vector_fields():
    allowed = {REPO / "storage" / "provenance.py"}
    offenders = []
    for folder in ("jobs", "actors", "storage", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path not in allowed:
                offenders += [f"{path.relative_to(REPO)}:{line}"
                              for line in literal_field_lists(ast.parse(path.read_text()))]
    assert offenders == []
    assert literal_field_lists(ast.parse("Provenance(model='m', doc_prefix='', backend='torch', "
                                         "dtype='float32', truncate_dim=None)"))
    assert literal_field_lists(ast.parse("names = ('model', 'backend', 'quantize')")) == []


def test_a_derived_truncated_table_records_its_truncation_in_the_same_settings(tmp_path):
    import lance
    import numpy as np
    import pyarrow as pa

    from jobs.eval.run import derive_truncated
    from storage.db import table_provenance, table_uri
    from storage.schema import table_schema, vector_type

    db = str(tmp_path / "db")
    full = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    provenance = Provenance.build(ModelConfig(model="fake:8", truncate_dim=4, keep_full=True), 4, 8)
    schema = table_schema(pa.schema([]), vector_type(4), provenance, vector_type(8))
    ids = pa.array([f"d{i}" for i in range(6)])
    lance.write_dataset(pa.table({
        "id": ids, "text": ids,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(full[:, :4].reshape(-1)), 4),
        "vector_full": pa.FixedSizeListArray.from_arrays(pa.array(full.reshape(-1)), 8),
        "content_hash": pa.nulls(6, pa.string()), "embedded_at": pa.nulls(6, pa.timestamp("us", "UTC")),
    }).cast(schema), table_uri(db, "src"))
    assert derive_truncated(db, "src", "dim2", 2) == 2
    two = table_provenance(db, "dim2")
    assert (two.dim, two.truncate_dim, two.keep_full, two.model) == (2, 2, True, "fake:8")
    assert derive_truncated(db, "src", "whole", None) == 8
    whole = table_provenance(db, "whole")
    assert (whole.dim, whole.truncate_dim, whole.keep_full) == (8, None, False)
    assert model_config_of(whole) == ModelConfig(model="fake:8")
