"""Table schemas and the provenance metadata that makes queries embed like the documents were."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import metadata

import pyarrow as pa

PROVENANCE_KEY = b"embedfleet"
VECTOR = "vector"
TIMESTAMP = pa.timestamp("us", tz="UTC")
_VERSIONED = ("embedfleet", "sentence-transformers", "transformers", "torch", "ray", "lancedb",
              "pylance", "pyarrow", "onnxruntime", "openvino")


@dataclass(frozen=True)
class Provenance:
    """How a table's vectors were made; stored as JSON in the table's schema metadata."""

    model: str
    dim: int
    native_dim: int
    truncate_dim: int | None
    normalized: bool
    doc_prefix: str
    query_prefix: str
    max_seq_length: int | None
    backend: str
    dtype: str
    keep_full: bool = False
    quantize: str = "none"
    versions: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialized form stored in the schema metadata."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Provenance:
        """Parse what to_json wrote; unknown keys from newer versions are ignored."""
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def config_differences(self, other: Provenance) -> list[str]:
        """Settings that would make vectors of the two incomparable, as 'name: a != b'."""
        names = ("model", "truncate_dim", "doc_prefix", "max_seq_length", "backend", "quantize",
                 "dtype", "keep_full")
        return [f"{n}: {getattr(self, n)!r} != {getattr(other, n)!r}"
                for n in names if getattr(self, n) != getattr(other, n)]


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a vector or a table."""
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def vector_type(dim: int, dtype: str = "float32") -> pa.DataType:
    """FixedSizeList of float32 (or float16) with the table's dimension."""
    value = pa.float16() if dtype == "float16" else pa.float32()
    return pa.list_(value, dim)


def table_schema(carried: pa.Schema, vector: pa.DataType, provenance: Provenance | None = None,
                 full_vector: pa.DataType | None = None) -> pa.Schema:
    """id, text, the carried columns, vector, content_hash, embedded_at (+ provenance)."""
    fields = [pa.field("id", pa.string()), pa.field("text", pa.string()), *carried,
              pa.field(VECTOR, vector)]
    if full_vector is not None:
        fields.append(pa.field("vector_full", full_vector))
    fields += [pa.field("content_hash", pa.string()), pa.field("embedded_at", TIMESTAMP)]
    schema = pa.schema(fields)
    if provenance is not None:
        schema = schema.with_metadata({PROVENANCE_KEY: provenance.to_json().encode()})
    return schema


def provenance_of(schema: pa.Schema) -> Provenance | None:
    """The provenance stored in a table's schema, or None for tables embedfleet did not write."""
    raw = (schema.metadata or {}).get(PROVENANCE_KEY)
    return Provenance.from_json(raw) if raw else None


REJECTS_SCHEMA = pa.schema([
    pa.field("run_id", pa.string()),
    pa.field("id", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("source_file", pa.string()),
    pa.field("source_row", pa.int64()),
    pa.field("record", pa.string()),
    pa.field("rejected_at", TIMESTAMP),
])
