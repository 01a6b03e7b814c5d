import numpy as np
import pytest

from actors.encoders.batching import padding_ratio, plan_micro_batches
from actors.query.similarity import cosine_top_k
from actors.vectors import l2_normalize, postprocess, truncate


def test_postprocess_truncates_then_normalizes_to_unit_length():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 384)).astype(np.float32) * 7
    out = postprocess(vectors, 64)
    assert out.shape == (50, 64) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    # Same direction as the truncated input.
    cos = np.sum(out * vectors[:, :64], axis=1) / np.linalg.norm(vectors[:, :64], axis=1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-5)


def test_normalize_before_truncate_would_not_be_unit_length():
    # The trap postprocess avoids: a normalized vector cut short is shorter than 1.
    v = l2_normalize(np.ones((1, 8)))
    assert np.linalg.norm(truncate(v, 4)) < 0.99


def test_postprocess_float16_and_no_truncation():
    vectors = np.random.default_rng(1).normal(size=(10, 32))
    out = postprocess(vectors, None, "float16")
    assert out.dtype == np.float16 and out.shape == (10, 32)
    np.testing.assert_allclose(np.linalg.norm(out.astype(np.float64), axis=1), 1.0, atol=1e-3)


def test_zero_vector_stays_finite():
    assert np.all(np.isfinite(l2_normalize(np.zeros((2, 4)))))


def test_truncate_rejects_non_positive():
    with pytest.raises(ValueError):
        truncate(np.ones((1, 4)), 0)


def test_micro_batches_cover_every_row_once_and_respect_budget():
    lengths = np.random.default_rng(2).integers(1, 200, size=1000)
    batches = plan_micro_batches(lengths, max_tokens=4096, max_rows=64)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    for b in batches:
        assert len(b) <= 64
        assert len(b) * lengths[b].max() <= 4096 or len(b) == 1


def test_sorted_batches_pad_less_than_arrival_order():
    lengths = np.random.default_rng(3).integers(1, 256, size=2000)
    sorted_batches = plan_micro_batches(lengths, 8192, 64)
    arrival = [np.arange(i, min(i + 64, 2000)) for i in range(0, 2000, 64)]
    assert padding_ratio(lengths, sorted_batches) < 0.1 < padding_ratio(lengths, arrival)


def test_a_row_longer_than_the_budget_gets_its_own_batch():
    batches = plan_micro_batches(np.array([10, 5000, 10]), 100, 8)
    assert [len(b) for b in batches] == [1, 2]


def test_cosine_top_k_ranks_and_breaks_ties_by_index():
    matrix = np.array([[1, 0], [0, 1], [1, 0], [0.7, 0.7]], dtype=np.float32)
    order, scores = cosine_top_k(matrix, np.array([1.0, 0.0]), 3)
    assert order.tolist() == [0, 2, 3]
    np.testing.assert_allclose(scores, [1, 1, np.sqrt(0.5)], atol=1e-6)
    with pytest.raises(ValueError):
        cosine_top_k(matrix, np.array([1.0, 0.0]), 0)
