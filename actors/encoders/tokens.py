"""Token counts without model weights: what a model will see of each text, for plans and dry runs.

Counts match the encoders' own (special tokens and the document prefix included, cut at the
model's window), so a dry run's tokens equal the run's.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actors.config import ModelConfig
from actors.encoders.base import encoder_name
from actors.encoders.clip import clip_long_texts
from actors.encoders.fake import words_of
from actors.encoders.models import resolve_model_source


@dataclass(frozen=True)
class TokenCounts:
    """Tokens the model embeds (after its window cuts), and how many texts the window cut."""

    tokens: np.ndarray  # per text, as embedded
    over_window: np.ndarray  # per text: longer than the window


class TokenCounter:
    """Counts the tokens a model embeds; `window` is its max_seq_length (None: no window)."""

    window: int | None = None

    def count(self, texts: list[str]) -> TokenCounts:
        """Per-text tokens as embedded and whether the window cut the text."""
        raise NotImplementedError


class WordCounter(TokenCounter):
    """The fake encoder's words: it has no window."""

    def count(self, texts: list[str]) -> TokenCounts:
        tokens = np.fromiter((len(words_of(t)) for t in texts), dtype=np.int64, count=len(texts))
        return TokenCounts(tokens, np.zeros(len(texts), dtype=bool))


class TokenizerCounter(TokenCounter):
    """A sentence-transformers model's own tokenizer, loaded without its weights."""

    def __init__(self, model: ModelConfig):
        from transformers import AutoTokenizer

        source = resolve_model_source(model.model)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.window = model.max_seq_length or _declared_window(source, self.tokenizer)

    def count(self, texts: list[str]) -> TokenCounts:
        window = self.window
        # Whole texts are tokenized, but a text far longer than the window only up to a head that
        # already yields more tokens than it: the count past the window does not change the result.
        clipped = clip_long_texts(texts, window, self._length)
        ids = self.tokenizer(clipped, add_special_tokens=True, truncation=False, verbose=False,
                             return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        full = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(texts))
        return TokenCounts(np.minimum(full, window), full > window)

    def _length(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _declared_window(source: str, tokenizer) -> int:
    """max_seq_length from sentence_bert_config.json, else the tokenizer's own limit."""
    try:
        data = json.loads((Path(source) / "sentence_bert_config.json").read_text())
        if data.get("max_seq_length"):
            return int(data["max_seq_length"])
    except (OSError, ValueError):
        pass
    return int(min(tokenizer.model_max_length, 8192))


@functools.lru_cache(maxsize=4)
def token_counter(model: ModelConfig) -> TokenCounter | None:
    """The counter for a model, one per process; None when only the loaded model could count."""
    name = encoder_name(model)
    if name == "fake":
        return WordCounter()
    if name == "python":
        return None  # a user's factory: its tokens are its own
    return TokenizerCounter(model)
