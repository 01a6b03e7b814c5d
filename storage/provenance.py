"""Provenance: how a table's vectors were made, built from ONE list of vector-deciding fields.

That list (VECTOR_FIELDS) drives the four places that must agree: the content hash of every
row, the check that refuses to mix vectors made differently, the provenance stored in the
table's schema metadata, and the model config the query side rebuilds from it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pyarrow as pa

PROVENANCE_KEY = b"embedfleet"
_VERSIONED = ("embedfleet", "sentence-transformers", "transformers", "torch", "ray", "lancedb",
              "pylance", "pyarrow", "onnxruntime", "openvino")


@dataclass(frozen=True)
class VectorField:
    """One model setting that decides a table's vectors."""

    name: str
    hashed: bool = True  # changes a document's vector, so it is part of every content hash
    # Hashed by value even at its default: the first tables' hashes were made that way. A field
    # added later is hashed only when set, so the hashes of existing tables hold.
    always_hashed: bool = False


# The order of the always-hashed fields is that of the first content hashes: keep it.
VECTOR_FIELDS: tuple[VectorField, ...] = (
    VectorField("model", always_hashed=True),
    VectorField("doc_prefix", always_hashed=True),
    VectorField("max_seq_length", always_hashed=True),
    VectorField("truncate_dim", always_hashed=True),
    VectorField("backend", always_hashed=True),
    VectorField("dtype", always_hashed=True),
    VectorField("quantize"),
    # The query side embeds queries with it; documents do not change, the table's record would.
    VectorField("query_prefix", hashed=False),
    # Decides whether the untruncated vector is stored beside the truncated one.
    VectorField("keep_full", hashed=False),
    # Chunked documents get other vectors (one per chunk), so chunk settings are hashed.
    VectorField("chunk"),
    VectorField("chunk_tokens"),
    VectorField("chunk_overlap"),
    # The column that heads each chunk; its values are hashed with the text (jobs/embed/rows.py).
    VectorField("chunk_header"),
)


def vector_field_names() -> tuple[str, ...]:
    """The names of the VECTOR_FIELDS, in order."""
    return tuple(f.name for f in VECTOR_FIELDS)


def vector_settings(model_config: Any) -> dict[str, Any]:
    """The vector-deciding settings of a model config, by name."""
    return {f.name: getattr(model_config, f.name) for f in VECTOR_FIELDS}


def _default_of(model_config: Any, name: str) -> Any:
    for f in dataclasses.fields(model_config):
        if f.name == name:
            return f.default
    raise KeyError(name)


def config_fingerprint(model_config: Any) -> str:
    """What, besides the text, decides a row's vector; part of every content hash."""
    values = []
    for f in VECTOR_FIELDS:
        value = getattr(model_config, f.name)
        if f.hashed and (f.always_hashed or value != _default_of(model_config, f.name)):
            values.append(value)
    return json.dumps(values)


def config_differences(existing: Any, wanted: Any) -> list[str]:
    """Vector-deciding settings that differ between two model configs, as 'name: a != b'."""
    return [f"{f.name}: {getattr(existing, f.name)!r} != {getattr(wanted, f.name)!r}"
            for f in VECTOR_FIELDS if getattr(existing, f.name) != getattr(wanted, f.name)]


@dataclass(frozen=True)
class Provenance:
    """How a table's vectors were made; stored as JSON in the table's schema metadata.

    `settings` holds the VECTOR_FIELDS by name (also readable as attributes: `p.model`).
    """

    settings: dict
    dim: int
    native_dim: int
    normalized: bool = True
    versions: dict = field(default_factory=dict)

    @classmethod
    def build(cls, model_config: Any, dim: int, native_dim: int) -> Provenance:
        """The provenance of vectors made with this model config, with today's library versions."""
        return cls(vector_settings(model_config), dim, native_dim, True, library_versions())

    def __getattr__(self, name: str) -> Any:
        settings = self.__dict__.get("settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """One flat mapping: the settings, dim, native_dim, normalized and versions."""
        return {**self.settings, "dim": self.dim, "native_dim": self.native_dim,
                "normalized": self.normalized, "versions": self.versions}

    def to_json(self) -> str:
        """Serialized form stored in the schema metadata."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Provenance:
        """Parse what to_json wrote; keys this version does not know are ignored."""
        data = json.loads(text)
        names = vector_field_names()
        return cls({k: v for k, v in data.items() if k in names}, data["dim"], data["native_dim"],
                   data.get("normalized", True), data.get("versions", {}))


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a vector or a table."""
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def with_provenance(schema: pa.Schema, provenance: Provenance) -> pa.Schema:
    """The schema with the provenance in its metadata."""
    return schema.with_metadata({**(schema.metadata or {}), PROVENANCE_KEY: provenance.to_json().encode()})


def provenance_of(schema: pa.Schema) -> Provenance | None:
    """The provenance stored in a table's schema, or None for tables embedfleet did not write."""
    raw = (schema.metadata or {}).get(PROVENANCE_KEY)
    return Provenance.from_json(raw) if raw else None
