"""Cut very long texts before tokenizing, without changing what the model sees.

A tokenizer turns the whole text into tokens before it truncates them to the model's
max_seq_length: a 5 MB text costs seconds and most of a GB, and a batch of such texts can run
an actor out of memory. The model only ever sees the first max_seq_length tokens, so a head of
the text that already yields more tokens than that, cut at whitespace (no tokenizer in use
builds a token across whitespace), gives the model exactly the same input.
"""

from __future__ import annotations

from collections.abc import Callable

CHARS_PER_TOKEN = 16  # first guess at a head long enough; grown when it is not


def clip_long_texts(texts: list[str], max_tokens: int,
                    count_tokens: Callable[[str], int]) -> list[str]:
    """Each text, or its shortest tried head that yields more than max_tokens tokens."""
    budget = max(max_tokens, 1) * CHARS_PER_TOKEN
    return [text if len(text) <= budget else clip_text(text, max_tokens, count_tokens, budget)
            for text in texts]


def clip_text(text: str, max_tokens: int, count_tokens: Callable[[str], int], budget: int) -> str:
    """A whitespace-ended head of text with more than max_tokens tokens, else the whole text."""
    size = budget
    while size < len(text):
        cut = _last_space(text, size)
        if cut > 0 and count_tokens(text[:cut]) > max_tokens:
            return text[:cut]
        size *= 4
    return text


def _last_space(text: str, end: int) -> int:
    """Index just past the last whitespace before `end` (0 when there is none)."""
    for i in range(end - 1, max(end - 4096, 0) - 1, -1):  # a word longer than 4 kB: try longer
        if text[i].isspace():
            return i + 1
    return 0
