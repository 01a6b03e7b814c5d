"""A deterministic encoder with no model ('fake:DIM'), for fast tests and pipeline benchmarks."""

from __future__ import annotations

import re
import zlib

import numpy as np

from actors.config import EncoderOptions
from actors.encoders.base import Encoder, register

WORD_PATTERN = re.compile(r"\w+", re.UNICODE)


class HashingEncoder(Encoder):
    """Deterministic bag-of-words hashing encoder ('fake:DIM'): no model, shared words -> cosine.

    It costs microseconds per text, so pipeline benchmarks and fast tests measure Ray and
    LanceDB rather than a model.
    """

    def __init__(self, dim: int):
        if dim < 2:
            raise ValueError("fake encoder needs dim >= 2")
        self.dim = dim

    @classmethod
    def from_options(cls, options: EncoderOptions) -> HashingEncoder:
        """'fake:DIM' -> a DIM-dimensional hashing encoder."""
        return cls(fake_dim(options.model.model))

    def embed_with_lengths(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            words = words_of(text)
            lengths[row] = len(words)
            for word in words:
                code = zlib.crc32(word.encode("utf-8", "surrogatepass"))
                out[row, code % self.dim] += 1.0 if (code >> 16) & 1 else -1.0
            # A constant component keeps every vector non-zero, so it can be normalized.
            out[row, 0] += 0.5
        return out, lengths


def words_of(text: str) -> list[str]:
    """The 'tokens' of the fake encoder: lower-case words (the whole text when it has none)."""
    return WORD_PATTERN.findall(text.lower()) or [text]


def fake_dim(name: str) -> int:
    """The DIM of 'fake:DIM' (a ValueError when it is not a number)."""
    return int(name.split(":", 1)[1])


register("fake")(HashingEncoder.from_options)
