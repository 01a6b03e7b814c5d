"""The embedder: a Ray Data UDF class holding one loaded model per actor."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from actors.config import EncoderOptions
from actors.encoders import Encoder, load_encoder
from actors.encoders.device import assigned_device
from actors.vectors import postprocess
from storage.chunk_rows import model_input_column
from storage.schema import CHUNK, vector_type

log = logging.getLogger(__name__)
_LOADS_IN_PROCESS = 0  # model loads in this worker process: 1 per actor, unless it restarted


class EncoderFailure(RuntimeError):
    """The encoder failed on every row it was given: the model, not the data, is broken."""


class Embedder:
    """Loads the model once in __init__, then embeds pyarrow batches: truncate, normalize, store."""

    def __init__(self, options: EncoderOptions, progress=None):
        import ray

        global _LOADS_IN_PROCESS
        # torch only when a real GPU was assigned or the model needs it: importing it costs a
        # second or more per actor, which encoders without torch need not pay.
        device = assigned_device()
        self.options = replace(options, device=device, threads=usable_threads(options.threads))
        self.device = device
        self.config = model = options.model
        self.encoder: Encoder = load_encoder(self.options)
        self.progress = progress  # a counter actor the driver shows as the run's progress, or None
        _LOADS_IN_PROCESS += 1
        native = self.encoder.dim
        model.check_dim(native)
        self.dim = model.truncate_dim or native
        context = ray.get_runtime_context()
        self.identity = (f"{context.get_node_id()[:12]}:{os.getpid()}:{self.device}"
                         f":load{_LOADS_IN_PROCESS}")
        log.info("embedder %s loaded %s", self.identity, model.model)

    def __call__(self, batch: pa.Table) -> pa.Table:
        todo = np.flatnonzero(pc.is_null(batch.column("_reject")).to_numpy(zero_copy_only=False))
        # A headed chunk's model input is its header and text; the row keeps the text.
        texts = batch.column(model_input_column(batch)).take(pa.array(todo)).to_pylist()
        prefix = self.config.doc_prefix
        vectors, lengths, failures = embed_isolating(self.encoder,
                                                     [prefix + t for t in texts])
        stored = np.zeros((batch.num_rows, self.dim), dtype=self.config.dtype)
        tokens = np.zeros(batch.num_rows, dtype=np.int32)
        full = np.zeros((batch.num_rows, self.encoder.dim if self.config.keep_full else 0),
                        dtype=self.config.dtype)
        if len(todo):
            stored[todo] = postprocess(vectors, self.config.truncate_dim, self.config.dtype)
            tokens[todo] = lengths
            if self.config.keep_full:
                full[todo] = postprocess(vectors, None, self.config.dtype)
        if failures:
            reasons = batch.column("_reject").to_pylist()
            for local, reason in failures.items():
                reasons[todo[local]] = reason
            batch = batch.set_column(batch.schema.get_field_index("_reject"), "_reject",
                                     pa.array(reasons, pa.string()))
        out = batch.append_column("vector", fixed_size_list(stored, self.config.dtype))
        if self.config.keep_full:
            out = out.append_column("vector_full", fixed_size_list(full, self.config.dtype))
        if self.progress is not None:  # fire and forget: progress must never slow a batch
            rejected = batch.num_rows - len(todo) + len(failures)
            self.progress.add.remote(documents_begun(batch), int(tokens.sum()), rejected)
        return (out
                .append_column("_tokens", pa.array(tokens))
                .append_column("_actor", pa.array([self.identity] * batch.num_rows, pa.string()))
                .append_column("_native_dim", pa.array(np.full(batch.num_rows, self.encoder.dim,
                                                               dtype=np.int32))))


def usable_threads(planned: int | None) -> int | None:
    """The planned thread count, but never more than the cores this process may run on."""
    # Ray's CPUs are logical: a node started with --num-cpus above its cores (or pinned to a few
    # of them) plans more threads than cores, and threads that outnumber the cores spin against
    # each other (a MiniLM encode with 4 threads on 2 cores ran 15% slower than with 2).
    if planned is None:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(planned, cores or planned))


def documents_begun(batch: pa.Table) -> int:
    """Rows of a batch, or in a chunked run the documents whose first chunk it holds."""
    if CHUNK not in batch.column_names:
        return batch.num_rows
    chunk = batch.column(CHUNK)
    return int(pc.sum(pc.fill_null(pc.equal(chunk, 0), True)).as_py() or 0)


def fixed_size_list(matrix: np.ndarray, dtype: str) -> pa.FixedSizeListArray:
    """An [n, dim] matrix as Arrow FixedSizeList<dtype>[dim], the table's vector type."""
    flat = pa.array(matrix.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1]).cast(
        vector_type(matrix.shape[1], dtype))


def embed_isolating(encoder: Encoder, texts: list[str]) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Embed texts; if the batch fails, bisect so only the rows that fail alone are rejected.

    Returns vectors (zeros for failed rows), token lengths, and {row: reason} for failures.
    Raises EncoderFailure when every row fails on its own: that is a broken model or device,
    and rejecting the whole corpus row by row would hide it.
    """
    if not texts:
        return np.zeros((0, getattr(encoder, "dim", 1)), np.float32), np.zeros(0, np.int64), {}
    try:
        vectors, lengths = encoder.embed_with_lengths(texts)
        return vectors, lengths, {}
    except Exception as exc:  # noqa: BLE001 - any encoder error is isolated or re-raised
        first_error = exc
    failures: dict[int, str] = {}
    vectors = np.zeros((len(texts), encoder.dim), np.float32)
    lengths = np.zeros(len(texts), np.int64)
    _bisect(encoder, texts, np.arange(len(texts)), vectors, lengths, failures)
    if len(failures) == len(texts):
        raise EncoderFailure(f"encoder failed on all {len(texts)} rows of a batch: "
                             f"{type(first_error).__name__}: {first_error}") from first_error
    return vectors, lengths, failures


def _bisect(encoder: Encoder, texts: list[str], index: np.ndarray, vectors: np.ndarray,
            lengths: np.ndarray, failures: dict[int, str]) -> None:
    try:
        v, n = encoder.embed_with_lengths([texts[i] for i in index])
        vectors[index], lengths[index] = v, n
        return
    except Exception as exc:  # noqa: BLE001
        if len(index) == 1:
            failures[int(index[0])] = f"encoder failed on this row: {type(exc).__name__}: {exc}"
            return
    half = len(index) // 2
    _bisect(encoder, texts, index[:half], vectors, lengths, failures)
    _bisect(encoder, texts, index[half:], vectors, lengths, failures)
