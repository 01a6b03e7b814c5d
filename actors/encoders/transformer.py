"""The torch backend: a sentence-transformers model in token-budgeted, length-sorted micro-batches."""

from __future__ import annotations

import numpy as np

from actors.config import EncoderOptions
from actors.encoders.base import Encoder, register
from actors.encoders.batching import default_batch_tokens, plan_micro_batches
from actors.encoders.clip import clip_long_texts
from actors.encoders.models import load_sentence_transformer


@register("torch")
class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model: token-budgeted, length-sorted micro-batches."""

    def __init__(self, options: EncoderOptions):
        import torch

        config, device = options.model, options.device
        if options.threads and device == "cpu":
            # Ray sets OMP_NUM_THREADS=1 for fractional CPUs; use what the actor was given.
            torch.set_num_threads(options.threads)
        self._torch = torch
        self.device = device
        self.model = load_sentence_transformer(config, device)
        if device.startswith("cuda"):
            self.model.half()
        self.model.eval()
        self.max_seq_length = int(self.model.max_seq_length)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_batch_tokens = options.max_batch_tokens or default_batch_tokens(device)
        self.max_batch_rows = options.max_batch_rows
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
