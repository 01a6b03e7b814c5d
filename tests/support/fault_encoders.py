"""Encoders that fail on purpose, loaded by the embed job as `python:tests.support.fault_encoders:NAME`."""

from __future__ import annotations

import os

from actors.encoders.fake import HashingEncoder


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


class SlowRecording(HashingEncoder):
    """fake:16 vectors, but each call sleeps and leaves a trace: lets a test strike mid-run.

    Writes into $EMBEDFLEET_FAULT_DIR: `load-<pid>.json` (node, GPU ids, device) once per
    model load and one line per call in `calls`; sleeps for the seconds in the `delay` file.
    """

    def __init__(self, device: str):
        import json

        import ray

        super().__init__(16)
        self.folder = os.environ["EMBEDFLEET_FAULT_DIR"]
        context = ray.get_runtime_context()
        record = {"pid": os.getpid(), "node": context.get_node_id(), "device": device,
                  "gpus": [str(g) for g in ray.get_gpu_ids()]}
        partial = os.path.join(self.folder, f".load-{os.getpid()}")
        with open(partial, "w") as f:
            json.dump(record, f)
        os.replace(partial, os.path.join(self.folder, f"load-{os.getpid()}.json"))  # whole or none

    def embed_with_lengths(self, texts):
        import time

        try:
            with open(os.path.join(self.folder, "delay")) as f:
                time.sleep(float(f.read() or 0))
        except FileNotFoundError:
            pass
        with open(os.path.join(self.folder, "calls"), "a") as f:
            f.write(f"{os.getpid()}\n")  # one short O_APPEND write: lines never interleave
        return super().embed_with_lengths(texts)


def slow_recording(config, device):
    """Factory for SlowRecording."""
    return SlowRecording(device)


class CrashesOnMarker(HashingEncoder):
    """Kills its own process on any batch holding the text CRASH, like a segfault in a kernel."""

    def embed_with_lengths(self, texts):
        if any("CRASH" in t for t in texts):
            os._exit(139)
        return super().embed_with_lengths(texts)


def crashes_on_marker(config, device):
    """Factory for CrashesOnMarker."""
    return CrashesOnMarker(16)


def sized_by_file(config, device):
    """A hashing encoder whose dimension is the number in $EMBEDFLEET_FAULT_DIR/dim (32 without one).

    One model name whose vectors change size between runs, as a model folder rebuilt in place
    does, without the seconds of importing torch in every actor.
    """
    try:
        with open(os.path.join(os.environ["EMBEDFLEET_FAULT_DIR"], "dim")) as f:
            dim = int(f.read())
    except FileNotFoundError:
        dim = 32
    return HashingEncoder(dim)


class WaitsForAPeer(HashingEncoder):
    """fake:16 vectors, but a call returns only once two actors have called (or 60 s pass).

    Holding the first actor's block in flight until a second actor takes one makes the pool
    hand a block to the idle actor, whatever the timing of the blocks on a busy machine.
    """

    def embed_with_lengths(self, texts):
        import time

        callers = os.path.join(os.environ["EMBEDFLEET_FAULT_DIR"], "callers")
        with open(callers, "a") as f:
            f.write(f"{os.getpid()}\n")  # one short O_APPEND write: lines never interleave
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(callers) as f:
                if len(set(f.read().split())) >= 2:
                    break
            time.sleep(0.05)
        return super().embed_with_lengths(texts)


def waits_for_a_peer(config, device):
    """Factory for WaitsForAPeer."""
    return WaitsForAPeer(16)
