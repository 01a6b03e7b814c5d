"""Projection pure parts: sampling, cache keys, exact neighbours, UMAP determinism, trust, colours."""

from __future__ import annotations

import numpy as np
import pytest

from actors.projection.core import (
    Projection,
    ProjectionError,
    ProjectionParams,
    _blocked_trustworthiness,
    cache_key,
    color_values,
    exact_knn,
    run_umap,
    sample_positions,
    trustworthiness,
    unit_rows,
)


def clustered(n: int, dim: int = 48, centres: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal((centres, dim))
    return (centre[rng.integers(0, centres, n)] + 0.4 * rng.standard_normal((n, dim))).astype(np.float32)


def test_sample_positions_are_seeded_sorted_and_unique():
    a, b = sample_positions(1000, 100, 7), sample_positions(1000, 100, 7)
    assert np.array_equal(a, b) and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sample_positions(1000, 100, 8))
    assert np.array_equal(sample_positions(50, 100, 0), np.arange(50))


def test_cache_key_changes_with_every_part():
    base = cache_key("docs", 3, ProjectionParams(n=100, seed=1))
    assert base == cache_key("docs", 3, ProjectionParams(n=100, seed=1))
    others = [cache_key("docs", 4, ProjectionParams(n=100, seed=1)),
              cache_key("other", 3, ProjectionParams(n=100, seed=1)),
              cache_key("docs", 3, ProjectionParams(n=101, seed=1)),
              cache_key("docs", 3, ProjectionParams(n=100, seed=2)),
              cache_key("docs", 3, ProjectionParams(n=100, seed=1, n_neighbors=30)),
              cache_key("docs", 3, ProjectionParams(n=100, seed=1, min_dist=0.5))]
    assert len({base, *others}) == 7


@pytest.mark.parametrize("bad", [dict(n=0), dict(n=10**7), dict(seed=-1), dict(n_neighbors=1),
                                 dict(min_dist=2.0), dict(n=True), dict(metric="euclidean")])
def test_params_are_checked(bad):
    with pytest.raises(ProjectionError):
        ProjectionParams(**bad)


def test_exact_knn_matches_brute_force():
    unit = unit_rows(clustered(300))
    indices, distances = exact_knn(unit, 8)
    full = 1.0 - unit @ unit.T
    np.fill_diagonal(full, -1)
    assert np.array_equal(indices[:, 0], np.arange(300)) and np.all(distances[:, 0] == 0)
    expected = np.sort(full, axis=1)[:, 1:8]
    np.testing.assert_allclose(np.sort(distances[:, 1:], axis=1), np.clip(expected, 0, 2), atol=1e-5)


def test_umap_shape_and_determinism():
    vectors = clustered(250)
    first = run_umap(vectors, ProjectionParams(n=250, seed=3))
    again = run_umap(vectors, ProjectionParams(n=250, seed=3))
    other = run_umap(vectors, ProjectionParams(n=250, seed=4))
    assert first.shape == (250, 2) and first.dtype == np.float32 and np.all(np.isfinite(first))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert trustworthiness(vectors, first) > 0.9


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12])
def test_tiny_samples_still_project(n):
    coords = run_umap(clustered(n), ProjectionParams(n=n))
    assert coords.shape == (n, 2) and np.all(np.isfinite(coords))


def test_trustworthiness_equals_scikit_learn_in_both_paths():
    from sklearn.manifold import trustworthiness as sk

    vectors = clustered(400, seed=2)
    coords = np.random.default_rng(0).standard_normal((400, 2))
    expected = sk(unit_rows(vectors), coords, n_neighbors=10, metric="cosine")
    assert trustworthiness(vectors, coords) == pytest.approx(expected, abs=1e-12)
    assert _blocked_trustworthiness(unit_rows(vectors), coords, 10) == pytest.approx(expected, abs=1e-9)
    assert trustworthiness(vectors[:15], coords[:15]) is None


def test_color_values_numbers_and_categories():
    numbers = color_values([3, None, 5.5])
    assert numbers == {"kind": "number", "values": [3.0, None, 5.5], "min": 3.0, "max": 5.5}
    labels = [f"c{i % 20}" for i in range(200)] + [None]
    cats = color_values(labels)
    assert cats["kind"] == "category" and len(cats["categories"]) == 12
    assert cats["categories"][-1] == "(other)" and "(other)" in cats["values"]
    assert cats["values"][-1] in ("(none)", "(other)")
    assert color_values([True, False])["kind"] == "category"


def test_projection_to_dict_cuts_texts():
    coords = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)
    made = Projection("t", 2, ProjectionParams(n=2), ["a", "b"], ["x" * 50, "short"], coords, None,
                      0.1, False, 9, "topic", color_values(["p", "q"]))
    data = made.to_dict(text_chars=10)
    assert data["points"][0] == {"id": "a", "x": 0.0, "y": 1.0, "text": "x" * 9 + "…", "color": "p"}
    assert data["n"] == 2 and data["rows"] == 9 and data["colors"]["categories"] == ["p", "q"]
    assert "values" not in data["colors"]
