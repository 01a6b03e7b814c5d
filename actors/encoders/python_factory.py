"""A user-supplied encoder: 'python:module:factory', the factory called with (model config, device)."""

from __future__ import annotations

import importlib

from actors.config import EncoderOptions
from actors.encoders.base import Encoder, register


@register("python")
def load_python_encoder(options: EncoderOptions) -> Encoder:
    """Import the module and call its factory; it returns any object with `dim` and `embed_with_lengths`."""
    module_name, _, attr = options.model.model[len("python:"):].rpartition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(options.model, options.device)
