"""UMAP projections of a table's vectors: sampling, cache keys, exact neighbours, trust, colours.

Pure numpy / scikit-learn / umap-learn: no Ray or LanceDB here. The neighbour graph UMAP
starts from is computed exactly with numpy (the vectors are unit length, so cosine is a dot
product), which is quick at these sizes and spares the approximate search's long JIT compile.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from importlib.metadata import version as package_version

import numpy as np

from storage.errors import UserError

MAX_SAMPLE = 50_000
_CHUNK = 1024
_warm_lock = threading.Lock()
_warm_seconds: float | None = None


class ProjectionError(UserError, ValueError):
    """A projection that cannot be made as asked: bad n, seed, colour column or parameters."""


@dataclass(frozen=True)
class ProjectionParams:
    """What decides a projection's coordinates (the colour column does not)."""

    n: int = 5000
    seed: int = 0
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"

    def __post_init__(self):
        _check_int("n", self.n, 1, MAX_SAMPLE)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        _check_int("n_neighbors", self.n_neighbors, 2, 200)
        if isinstance(self.min_dist, bool) or not isinstance(self.min_dist, (int, float)) \
                or not 0.0 <= self.min_dist <= 1.0:
            raise ProjectionError(f"min_dist must be a number from 0 to 1, got {self.min_dist!r}")
        if self.metric != "cosine":
            raise ProjectionError("only the cosine metric is supported")

    def umap_json(self) -> str:
        """The parameters UMAP sees, with the library version, as canonical JSON."""
        return json.dumps({"n_neighbors": self.n_neighbors, "min_dist": float(self.min_dist),
                           "metric": self.metric, "umap": package_version("umap-learn")},
                          sort_keys=True)


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ProjectionError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def cache_key(table: str, version: int, params: ProjectionParams) -> str:
    """A stable id for (table, version, n, seed, UMAP parameters)."""
    text = json.dumps([table, int(version), int(params.n), int(params.seed), params.umap_json()])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def sample_positions(num_rows: int, n: int, seed: int) -> np.ndarray:
    """Sorted row positions of a seeded sample of n rows without replacement (all if n >= rows)."""
    if n >= num_rows:
        return np.arange(num_rows, dtype=np.int64)
    picked = np.random.default_rng(seed).choice(num_rows, size=n, replace=False)
    return np.sort(picked).astype(np.int64)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (stored vectors already are; float16 ones nearly)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def exact_knn(unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k (< rows) nearest rows by cosine distance, itself first (UMAP's convention)."""
    n = len(unit)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        block = np.clip(1.0 - unit[start:start + _CHUNK] @ unit.T, 0.0, 2.0)
        rows = np.arange(len(block))
        block[rows, start + rows] = -1.0  # the point itself ranks first even among duplicates
        part = np.argpartition(block, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(block, part, axis=1), axis=1, kind="stable")
        nearest = np.take_along_axis(part, order, axis=1)
        indices[start:start + len(block)] = nearest
        distances[start:start + len(block)] = np.maximum(np.take_along_axis(block, nearest, axis=1), 0)
    return indices, distances


def run_umap(vectors: np.ndarray, params: ProjectionParams) -> np.ndarray:
    """2-D coordinates [n, 2] float32; the same vectors and params give the same coordinates."""
    unit = unit_rows(vectors)
    n = len(unit)
    if n <= 3:
        # Too few points for a neighbour graph: lay them on a line, in row order.
        return np.column_stack([np.arange(n), np.zeros(n)]).astype(np.float32)
    neighbours = min(params.n_neighbors, n - 1)
    indices, distances = exact_knn(unit, neighbours)
    from actors.projection.kernels import cached_umap

    umap = cached_umap()
    model = umap.UMAP(n_components=2, n_neighbors=neighbours, min_dist=params.min_dist,
                      metric="cosine", random_state=params.seed, init="spectral" if n > 10 else "random",
                      precomputed_knn=(indices, distances))
    with warnings.catch_warnings():
        # A fixed random_state makes UMAP single-threaded (that is what makes it reproducible)
        # and it says so on every call; with a precomputed graph it also warns transform() is off.
        warnings.simplefilter("ignore")
        coords = model.fit_transform(unit)
    return np.asarray(coords, dtype=np.float32)


def warm_umap() -> float:
    """Compile UMAP's numba kernels once per process on a tiny array; seconds it took (0 after)."""
    global _warm_seconds
    with _warm_lock:
        if _warm_seconds is not None:
            return 0.0
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        run_umap(rng.standard_normal((32, 8)).astype(np.float32), ProjectionParams(n=32, n_neighbors=5))
        _warm_seconds = time.perf_counter() - start
        return _warm_seconds


def trustworthiness(vectors: np.ndarray, coords: np.ndarray, k: int = 10) -> float | None:
    """scikit-learn's trustworthiness (cosine, k neighbours); None when there are too few points.

    Up to 4,000 points it is scikit-learn's own function; above, its n x n rank matrix would
    not fit comfortably, so the same formula runs in row blocks (equal up to float ties).
    """
    n = len(vectors)
    if k < 1 or n < 2 * k + 1:
        return None
    if n <= 4000:
        from sklearn.manifold import trustworthiness as sk_trustworthiness

        return float(sk_trustworthiness(unit_rows(vectors), coords, n_neighbors=k, metric="cosine"))
    return _blocked_trustworthiness(unit_rows(vectors), np.asarray(coords, dtype=np.float64), k)


def _blocked_trustworthiness(unit: np.ndarray, coords: np.ndarray, k: int) -> float:
    from sklearn.neighbors import NearestNeighbors

    n = len(unit)
    embedded = NearestNeighbors(n_neighbors=k).fit(coords).kneighbors(return_distance=False)
    penalty = 0.0
    for start in range(0, n, _CHUNK // 4):
        block = 1.0 - unit[start:start + _CHUNK // 4].astype(np.float64) @ unit.T.astype(np.float64)
        rows = np.arange(len(block))
        block[rows, start + rows] = np.inf
        near = np.take_along_axis(block, embedded[start:start + len(block)], axis=1)
        # Rank (1-based) of each embedded neighbour among the point's original-space neighbours.
        ranks = (block[:, None, :] < near[:, :, None]).sum(axis=2) + 1
        penalty += np.clip(ranks - k, 0, None).sum()
    return float(1.0 - penalty * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))


def color_values(values: list, max_categories: int = 12) -> dict:
    """Colour data for a column: numbers stay numbers; anything else becomes <= 12 categories."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return {"kind": "number", "values": [None if v is None else float(v) for v in values],
                "min": float(min(present)), "max": float(max(present))}
    labels = ["(none)" if v is None else str(v) for v in values]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    top = sorted(counts, key=lambda c: (-counts[c], c))[:max_categories]
    if len(counts) > max_categories:
        top = top[:max_categories - 1] + ["(other)"]
    kept = set(top)
    return {"kind": "category", "categories": top,
            "values": [label if label in kept else "(other)" for label in labels]}


@dataclass
class Projection:
    """A sample's 2-D coordinates with ids, texts, colours and how it was made."""

    table: str
    version: int
    params: ProjectionParams
    ids: list[str]
    texts: list[str]
    coords: np.ndarray
    trustworthiness: float | None
    seconds: float
    cached: bool
    rows: int
    color_by: str | None = None
    colors: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self, text_chars: int | None = None) -> dict:
        """JSON-ready form; texts cut to text_chars characters when given."""
        texts = self.texts if text_chars is None else [_cut(t, text_chars) for t in self.texts]
        points = [{"id": i, "x": round(float(x), 5), "y": round(float(y), 5), "text": t}
                  for i, t, (x, y) in zip(self.ids, texts, self.coords, strict=True)]
        if self.colors is not None:
            for point, value in zip(points, self.colors["values"], strict=True):
                point["color"] = value
        colors = {k: v for k, v in (self.colors or {}).items() if k != "values"} or None
        return {"table": self.table, "version": self.version, "rows": self.rows,
                **asdict(self.params), "n": len(self.ids), "color_by": self.color_by,
                "colors": colors, "trustworthiness": self.trustworthiness,
                "seconds": round(self.seconds, 3), "cached": self.cached, **self.extra,
                "points": points}


def _cut(text: str, chars: int) -> str:
    return text if text is None or len(text) <= chars else text[: max(chars - 1, 0)] + "…"
