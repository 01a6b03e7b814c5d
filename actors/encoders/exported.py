"""CPU backends on an exported graph: ONNX Runtime (fp32 or int8) and OpenVINO (fp32 or bf16).

The model's transformer and pooling are exported once per model and settings with
`torch.onnx.export` into a cache folder; tokenization stays the model's own (preprocess), so
the token ids, truncation and micro-batching are exactly those of the torch backend.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

from actors.config import EncoderOptions, ModelConfig
from actors.encoders.base import Encoder
from actors.encoders.batching import default_batch_tokens, plan_micro_batches
from actors.encoders.models import load_sentence_transformer, resolve_model_source
from storage.errors import UserError

log = logging.getLogger(__name__)
EXPORT_FORMAT = 1  # bump when the exported graph changes, so old cache entries are not reused
_POOLINGS = ("mean", "cls", "max")
_EXPORTING = threading.Lock()  # torch.onnx.export is not thread-safe within a process


class ExportError(UserError, RuntimeError):
    """The model cannot be run on an exported backend (an unsupported module or pooling)."""


def cache_root() -> Path:
    """Where exported models live: $EMBEDFLEET_CACHE or ~/.cache/embedfleet."""
    return Path(os.environ.get("EMBEDFLEET_CACHE") or Path.home() / ".cache" / "embedfleet")


def export_key(source: str, quantize: str) -> str:
    """A name for one export: the model's files (name, size, mtime), settings and exporter versions."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{EXPORT_FORMAT}|{source}|{quantize}".encode())
    for lib in ("torch", "onnx", "onnxruntime", "transformers", "sentence-transformers"):
        try:
            h.update(f"|{lib}={metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            continue
    root = Path(source)
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = path.stat()
            h.update(f"|{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()


def pooling_mode(model) -> tuple[list[str], str]:
    """The transformer's input names and the pooling mode; ExportError for other layouts."""
    names = [type(m).__name__ for m in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        raise ExportError(f"exported backends support Transformer + Pooling (+ Normalize) models, "
                          f"not {' + '.join(names)}; use --backend torch")
    mode = model[1].get_config_dict().get("pooling_mode")
    if mode not in _POOLINGS:
        raise ExportError(f"pooling {mode!r} is not supported by exported backends; use --backend torch")
    inputs = [k for k, v in model.preprocess(["a b"]).items() if hasattr(v, "shape")]
    return inputs, mode


def export_onnx(model, path: Path) -> None:
    """Write the model's transformer + pooling as an ONNX graph with dynamic batch and length."""
    import torch

    inputs, mode = pooling_mode(model)
    transformer = getattr(model[0], "auto_model", None) or model[0].model

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors):
            features = dict(zip(inputs, tensors, strict=True))
            hidden = self.transformer(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            if mode == "cls":
                return hidden[:, 0]
            if mode == "max":
                return hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
            # Mean over real tokens, clamped like sentence-transformers' Pooling.
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    example = model.preprocess(["an example sentence", "a second, longer example sentence here"])
    axes = {name: {0: "batch", 1: "tokens"} for name in inputs}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about shape checks it freezes; the axes that vary are declared dynamic.
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled().eval(), tuple(example[n] for n in inputs), str(path),
                          input_names=inputs, output_names=["sentence_embedding"],
                          dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the MatMuls: weights per output channel, in 7 bits.

    7-bit weights (reduce_range) keep u8 x s8 products from saturating on CPUs without VNNI,
    so one cached export gives the same vectors on every node of a mixed cluster.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it logs advice to pre-process the graph, meant for CNNs
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True)
    finally:
        root.setLevel(level)


def cached_export(model, source: str, quantize: str) -> Path:
    """The exported graph for a model and settings, exporting it on first use.

    Concurrent actors may export at once: each writes to its own temporary folder and renames
    it into place; the first rename wins and the others use its result.
    """
    root = cache_root() / "onnx"
    final = root / export_key(source, quantize)
    target = final / "model.onnx"
    if target.exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        with _EXPORTING:
            export_onnx(model, work / "fp32.onnx")
        if quantize == "int8":
            quantize_int8(work / "fp32.onnx", work / "model.onnx")
            (work / "fp32.onnx").unlink()
        else:
            (work / "fp32.onnx").rename(work / "model.onnx")
        try:
            work.rename(final)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("exported %s (%s) to %s", source, quantize, final)
    return target


class ExportedEncoder(Encoder):
    """Tokenizes with the model's own preprocess, runs token-capped micro-batches on a graph."""

    def __init__(self, options: EncoderOptions):
        config = options.model
        source = resolve_model_source(config.model)
        self.model = load_sentence_transformer(config, "cpu")
        self.inputs, _ = pooling_mode(self.model)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_batch_tokens = options.max_batch_tokens or default_batch_tokens("cpu")
        self.max_batch_rows = options.max_batch_rows
        # The actor's share of the CPUs (None: the runtime's own default, all cores).
        self.threads = options.threads
        graph_quantize = "int8" if config.quantize == "int8" else "none"
        self.path = cached_export(self.model, source, graph_quantize)
        self._load(config)

    def _load(self, config: ModelConfig) -> None:
        raise NotImplementedError

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def embed_with_lengths(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors [n, dim] float32 and the token count of each text."""
        features = {k: v.numpy() for k, v in self.model.preprocess(texts).items() if k in self.inputs}
        mask = features["attention_mask"]
        lengths = mask.sum(axis=1).astype(np.int64)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for index in plan_micro_batches(lengths, self.max_batch_tokens, self.max_batch_rows):
            used = mask[index].any(axis=0)
            out[index] = self._run({k: np.ascontiguousarray(v[index][:, used])
                                    for k, v in features.items()})
        return out, lengths
