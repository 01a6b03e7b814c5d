"""Encoders: one interface (base.py), one module per backend, a registry keyed by name.

`load_encoder(options)` builds the one an EncoderOptions asks for: 'fake:DIM', 'python:module:factory',
or a model on the torch, onnx or openvino backend.
"""

from __future__ import annotations

from actors.config import BACKENDS, EncoderOptions, ModelConfig

# Each backend module registers itself; their heavy libraries load only when an encoder is built.
from actors.encoders import fake, onnx_runtime, openvino_runtime, python_factory, transformer  # noqa: F401
from actors.encoders.base import ENCODERS, Encoder, encoder_name
from actors.encoders.fake import fake_dim
from actors.encoders.models import declared_dimension

__all__ = ["Encoder", "EncoderOptions", "check_truncation", "known_dim", "load_encoder"]


def load_encoder(options: EncoderOptions | ModelConfig) -> Encoder:
    """Build the encoder the options ask for (a ModelConfig alone: CPU, default batching)."""
    if isinstance(options, ModelConfig):
        options = EncoderOptions(model=options)
    return ENCODERS[encoder_name(options.model)](options)


def known_dim(model: ModelConfig) -> int | None:
    """The model's vector dimension when its name or config files tell it, no model loaded; else None."""
    name = encoder_name(model)
    if name == "fake":
        try:
            return fake_dim(model.model)
        except ValueError:
            return None  # the encoder itself says what is wrong with the name
    if name in BACKENDS:  # the same weights on every backend
        return declared_dimension(model.model)
    return None  # a user's factory: only the encoder it builds knows


def check_truncation(model: ModelConfig) -> None:
    """Refuse a truncation over the model's dimension before any work, where known_dim tells it.

    Otherwise the embedder actor refuses it once its model has loaded (ModelConfig.check_dim).
    """
    native = known_dim(model) if model.truncate_dim is not None else None
    if native is not None:
        model.check_dim(native)
