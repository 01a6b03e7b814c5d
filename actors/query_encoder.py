"""Embed queries exactly as a table's documents were: model, prefix, length, truncation from provenance."""

from __future__ import annotations

import numpy as np

from actors.encoders import Encoder, load_encoder
from actors.vectors import postprocess
from jobs.config import ModelConfig
from storage.schema import Provenance


def model_config_of(provenance: Provenance) -> ModelConfig:
    """The ModelConfig a table's provenance records."""
    return ModelConfig(model=provenance.model, truncate_dim=provenance.truncate_dim,
                       doc_prefix=provenance.doc_prefix, query_prefix=provenance.query_prefix,
                       max_seq_length=provenance.max_seq_length, backend=provenance.backend,
                       quantize=provenance.quantize, dtype=provenance.dtype)


class QueryEncoder:
    """Loads the table's model once; turns query texts into unit vectors of the table's dim."""

    def __init__(self, provenance: Provenance, device: str = "cpu"):
        self.provenance = provenance
        self.config = model_config_of(provenance)
        self.encoder: Encoder = load_encoder(self.config, device)

    def embed_queries(self, texts: list[str], full: bool = False) -> np.ndarray:
        """Unit vectors for the texts: truncated like the table's `vector` unless `full`."""
        raw = self.encoder.embed([self.config.query_prefix + t for t in texts])
        dim = None if full else self.config.truncate_dim
        return postprocess(raw, dim, "float32")
