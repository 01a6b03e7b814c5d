"""Embed queries exactly as a table's documents were: model, prefix, length, truncation from provenance."""

from __future__ import annotations

import numpy as np

from actors.config import EncoderOptions, model_config_of
from actors.encoders import Encoder, load_encoder
from actors.vectors import postprocess
from storage.provenance import Provenance


class QueryEncoder:
    """Loads the table's model once; turns query texts into unit vectors of the table's dim."""

    def __init__(self, provenance: Provenance, device: str = "cpu"):
        self.provenance = provenance
        self.config = model_config_of(provenance)
        self.encoder: Encoder = load_encoder(EncoderOptions(model=self.config, device=device))

    def embed_queries(self, texts: list[str], full: bool = False) -> np.ndarray:
        """Unit vectors for the texts: truncated like the table's `vector` unless `full`."""
        raw = self.encoder.embed([self.config.query_prefix + t for t in texts])
        dim = None if full else self.config.truncate_dim
        return postprocess(raw, dim, "float32")
