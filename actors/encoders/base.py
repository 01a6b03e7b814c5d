"""The encoder interface (`dim`, `embed(texts) -> float32 array`) and the registry of backends by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from actors.config import EncoderOptions, ModelConfig

# Encoder classes by name: a model name 'fake:DIM' or 'python:module:factory' picks by its
# scheme, any other model by its backend ('torch', 'onnx', 'openvino').
ENCODERS: dict[str, Callable[[EncoderOptions], Encoder]] = {}
SCHEMES = ("fake", "python")


class Encoder:
    """Base class: subclasses set `dim` and implement `embed_with_lengths`."""

    dim: int

    def embed_with_lengths(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors [n, dim] float32 and the token count each text was embedded with."""
        raise NotImplementedError

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors [n, dim] float32, not normalized."""
        return self.embed_with_lengths(texts)[0]


def register(name: str):
    """Class decorator: make an encoder buildable by name."""
    def add(cls):
        ENCODERS[name] = cls
        return cls
    return add


def encoder_name(model: ModelConfig) -> str:
    """The registry name a model config asks for."""
    scheme = model.model.split(":", 1)[0]
    return scheme if scheme in SCHEMES and ":" in model.model else model.backend
