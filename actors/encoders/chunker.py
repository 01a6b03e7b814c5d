"""Token-bounded chunks of long documents, counted in the model's own tokens (no weights loaded).

The splitter is semantic-text-splitter (Rust, maintained): it takes the model's Hugging Face
tokenizer, so a chunk's size is what the model will see, and it cuts at the largest semantic
unit that fits (paragraphs, then sentences, then words), so boundaries fall at paragraph and
sentence ends where they can. Chunk sizes are budgets left after the document prefix and the
special tokens, so prefix + chunk never exceeds the model's window.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from actors.config import ModelConfig
from actors.encoders.tokens import token_counter
from storage.errors import ConfigError

NO_WINDOW_CHUNK_TOKENS = 128  # an encoder with no window (fake:DIM) still needs a chunk size
OVERLAP_SHARE = 5  # default overlap: a fifth of a chunk, so text cut at a boundary is whole in one
# --chunk-header: a header is cut to this many tokens (a title fits, a paragraph does not), and
# chunks are that much (plus one for the separator) smaller, so header + chunk fit the window.
HEADER_TOKENS = 32
HEADER_SEPARATOR = "\n"


@dataclass(frozen=True)
class ChunkSizes:
    """The resolved sizes of a chunked run, in model tokens."""

    tokens: int
    overlap: int
    window: int | None


def chunk_sizes(model: ModelConfig) -> ChunkSizes:
    """The chunk size and overlap a model config asks for; an error names the window it breaks."""
    counter = token_counter(model)
    if counter is None:
        raise ConfigError(f"--chunk needs a tokenizer to count tokens; model {model.model!r} has "
                          "none that embedfleet can load")
    budget = counter.chunk_budget(model.doc_prefix)
    header = HEADER_TOKENS + 1 if model.chunk_header is not None else 0
    if budget is not None:
        budget -= header
    tokens = model.chunk_tokens or budget or NO_WINDOW_CHUNK_TOKENS
    if budget is not None and tokens > budget:
        raise ConfigError(f"--chunk-tokens {tokens} does not fit model {model.model!r}: its window "
                          f"is {counter.window} tokens, of which {budget} are left for a chunk "
                          "after the special tokens, the document prefix"
                          + (f" and a header of up to {HEADER_TOKENS}" if header else ""))
    if budget is not None and budget < 1:
        raise ConfigError(f"the document prefix fills the {counter.window}-token window of model "
                          f"{model.model!r}: no room is left for a chunk")
    overlap = model.chunk_overlap if model.chunk_overlap is not None else tokens // OVERLAP_SHARE
    if overlap >= tokens:
        raise ConfigError(f"--chunk-overlap {overlap} must be smaller than the chunk size "
                          f"({tokens} tokens)")
    return ChunkSizes(tokens, overlap, counter.window)


class Chunker:
    """Cuts texts into chunks: (start, end) character offsets and the chunk's text."""

    def __init__(self, model: ModelConfig):
        self.sizes = chunk_sizes(model)
        self._counter = token_counter(model)
        self._splitter = self._counter.splitter(self.sizes.tokens, self.sizes.overlap)

    def chunks(self, text: str) -> list[tuple[int, int, str]]:
        """The text's chunks in order; text[start:end] is the chunk; never an empty one."""
        return [(start, start + len(chunk), chunk)
                for start, chunk in self._splitter.chunk_indices(text) if chunk.strip()]

    def headed(self, header: str | None, chunk: str) -> str:
        """What the model embeds of a chunk: its header, cut to HEADER_TOKENS, then the chunk."""
        header = " ".join((header or "").split())  # one line: the separator stays the only break
        if not header:
            return chunk
        return self._counter.head(header, HEADER_TOKENS) + HEADER_SEPARATOR + chunk


@functools.lru_cache(maxsize=4)
def chunker(model: ModelConfig) -> Chunker:
    """The chunker of a model config, one per process (the tokenizer loads once)."""
    return Chunker(model)
