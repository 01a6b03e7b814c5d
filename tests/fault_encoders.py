"""Encoders that fail on purpose, loaded by the embed job as `python:tests.fault_encoders:NAME`."""

from __future__ import annotations

import os

from actors.encoders import HashingEncoder


class BreaksOnThirdCall(HashingEncoder):
    """Works for two calls, then fails on every call: a device that dies mid-run."""

    def __init__(self, dim: int = 16):
        super().__init__(dim)
        self.calls = 0

    def embed_with_lengths(self, texts):
        self.calls += 1
        if self.calls >= 3:
            raise RuntimeError("simulated device failure on batch 3")
        return super().embed_with_lengths(texts)


class PoisonedRows(HashingEncoder):
    """Fails on any batch holding a text with the marker POISON, like a tokenizer crash."""

    def embed_with_lengths(self, texts):
        if any("POISON" in t for t in texts):
            raise ValueError("cannot encode poisoned text")
        return super().embed_with_lengths(texts)


def breaks_on_third_call(config, device):
    """Factory for BreaksOnThirdCall."""
    return BreaksOnThirdCall()


def poisoned_rows(config, device):
    """Factory for PoisonedRows."""
    return PoisonedRows(16)


def explodes_on_load(config, device):
    """A model that cannot load: a run that reaches model loading fails with this message."""
    raise RuntimeError(f"model loaded in pid {os.getpid()}: the run got past its input checks")
