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
from actors.encoders.fake import WORD_PATTERN, words_of
from actors.encoders.models import resolve_model_source

# Texts longer than this many characters per window token are counted on a head and scaled:
# an exact count of a 5 MB text costs seconds and most of a GB, and changes no decision.
EXACT_CHARS_PER_WINDOW_TOKEN = 64


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
        full = self.full_counts(texts)
        if self.window is None:
            return TokenCounts(full, np.zeros(len(texts), dtype=bool))
        return TokenCounts(np.minimum(full, self.window), full > self.window)

    def full_counts(self, texts: list[str]) -> np.ndarray:
        """Per-text tokens of the whole text, specials included (estimated for huge texts)."""
        raise NotImplementedError

    def chunk_budget(self, prefix: str) -> int | None:
        """Tokens a chunk may have so that prefix + chunk + specials fit the window."""
        return None

    def splitter(self, capacity: int, overlap: int):
        """A semantic-text-splitter TextSplitter counting this model's tokens."""
        raise NotImplementedError

    def head(self, text: str, tokens: int) -> str:
        """The text cut after its first `tokens` tokens (no special tokens counted)."""
        raise NotImplementedError


class WordCounter(TokenCounter):
    """The fake encoder's words: it has no window."""

    def full_counts(self, texts: list[str]) -> np.ndarray:
        return np.fromiter((len(words_of(t)) for t in texts), dtype=np.int64, count=len(texts))

    def splitter(self, capacity: int, overlap: int):
        from semantic_text_splitter import TextSplitter

        return TextSplitter.from_callback(lambda text: len(words_of(text)), capacity,
                                          overlap=overlap, trim=True)

    def head(self, text: str, tokens: int) -> str:
        ends = [m.end() for m in WORD_PATTERN.finditer(text)]
        return text if len(ends) <= tokens else text[:ends[tokens - 1]]


class TokenizerCounter(TokenCounter):
    """A sentence-transformers model's own (fast) tokenizer, loaded without its weights."""

    def __init__(self, model: ModelConfig):
        source = resolve_model_source(model.model)
        self.tokenizer = fast_tokenizer(source)
        self.window = model.max_seq_length or _declared_window(source)
        self.specials = self.tokenizer.num_special_tokens_to_add(False)

    def full_counts(self, texts: list[str]) -> np.ndarray:
        limit = self.window * EXACT_CHARS_PER_WINDOW_TOKEN
        heads = [t if len(t) <= limit else t[:limit] for t in texts]
        counts = np.fromiter((len(e) for e in self.tokenizer.encode_batch(heads)),
                             dtype=np.int64, count=len(texts))
        for i, text in enumerate(texts):
            if len(text) > limit:  # tokens per character of the head, over the whole text
                counts[i] = int(round((counts[i] - self.specials) * len(text) / limit)) + self.specials
        return counts

    def chunk_budget(self, prefix: str) -> int:
        prefix_tokens = len(self.tokenizer.encode(prefix, add_special_tokens=False)) if prefix else 0
        return self.window - self.specials - prefix_tokens

    def splitter(self, capacity: int, overlap: int):
        from semantic_text_splitter import TextSplitter

        return TextSplitter.from_huggingface_tokenizer(self.tokenizer, capacity, overlap=overlap,
                                                       trim=True)

    def head(self, text: str, tokens: int) -> str:
        offsets = self.tokenizer.encode(text, add_special_tokens=False).offsets
        return text if len(offsets) <= tokens else text[:offsets[tokens - 1][1]]


def fast_tokenizer(source: str):
    """The model's `tokenizers.Tokenizer`, with no truncation or padding of its own.

    Read from tokenizer.json when the model has one (no transformers import: it is the slow
    part of a planning task's start); else converted by transformers.
    """
    from tokenizers import Tokenizer

    path = Path(source) / "tokenizer.json"
    if path.is_file():
        tokenizer = Tokenizer.from_file(str(path))
    else:
        from transformers import AutoTokenizer

        tokenizer = Tokenizer.from_str(AutoTokenizer.from_pretrained(source).backend_tokenizer.to_str())
    # Some tokenizer.json files pin a truncation (all-MiniLM-L6-v2's: 128) the model ignores.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _declared_window(source: str) -> int:
    """max_seq_length from sentence_bert_config.json, else the tokenizer config's own limit."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"),
                      ("tokenizer_config.json", "model_max_length")):
        try:
            value = json.loads((Path(source) / name).read_text()).get(key)
        except (OSError, ValueError):
            continue
        if value:
            return int(min(value, 8192))
    return 512


@functools.lru_cache(maxsize=4)
def token_counter(model: ModelConfig) -> TokenCounter | None:
    """The counter for a model, one per process; None when only the loaded model could count."""
    name = encoder_name(model)
    if name == "fake":
        return WordCounter()
    if name == "python":
        return None  # a user's factory: its tokens are its own
    return TokenizerCounter(model)
