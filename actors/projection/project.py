"""Make or fetch the UMAP projection of one table version: sample, project, score, cache."""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa

from actors.projection.core import (
    Projection,
    ProjectionError,
    ProjectionParams,
    cache_key,
    color_values,
    run_umap,
    sample_positions,
    trustworthiness,
    warm_umap,
)
from storage.db import dataset_or_none, open_table
from storage.projection_cache import load_projection, save_projection
from storage.schema import HIDDEN_COLUMNS

log = logging.getLogger(__name__)


def project_table(db: str, table: str, n: int = 5000, seed: int = 0, color_by: str | None = None,
                  n_neighbors: int = 15, min_dist: float = 0.1,
                  version: int | None = None) -> Projection:
    """The projection of a seeded sample of a table version (the newest by default), cached."""
    params = ProjectionParams(n=n, seed=seed, n_neighbors=n_neighbors, min_dist=min_dist)
    if version is None:
        version = open_table(db, table).version  # validates the name, clear error if missing
    dataset = dataset_or_none(db, table, version)
    if dataset is None:
        raise ProjectionError(f"table {table!r} has no version {version}")
    _check_color(dataset.schema, color_by)
    rows = dataset.count_rows()
    if rows == 0:
        raise ProjectionError(f"table {table!r} is empty at version {version}")
    start = time.perf_counter()
    key = cache_key(table, version, params)
    hit = load_projection(db, table, key)
    if hit is not None:
        projection = _from_cache(dataset, table, version, params, hit, color_by, start, rows)
        if projection is not None:
            return projection
    warm_s = warm_umap()
    positions = sample_positions(rows, params.n, params.seed)
    columns = ["id", "text", "vector"] + ([color_by] if color_by and color_by not in ("id", "text") else [])
    data = dataset.take(positions, columns=columns)
    vectors = _matrix(data.column("vector"))
    compute = time.perf_counter()
    coords = run_umap(vectors, params)
    umap_s = time.perf_counter() - compute
    trust = trustworthiness(vectors, coords, k=10)
    ids = [str(i) for i in data.column("id").to_pylist()]
    save_projection(db, table, {
        "key": key, "table": table, "version": version, "n": params.n, "seed": params.seed,
        "params": params.umap_json(), "positions": positions.tolist(), "ids": ids,
        "x": coords[:, 0].tolist(), "y": coords[:, 1].tolist(), "trustworthiness": trust,
        "seconds": umap_s,
    })
    log.info("projected %s v%d: %d points in %.2f s (warm-up %.2f s), trustworthiness %s",
             table, version, len(ids), umap_s, warm_s, trust)
    return Projection(table, version, params, ids, data.column("text").to_pylist(), coords, trust,
                      time.perf_counter() - start, False, rows, color_by, _colors(data, color_by),
                      {"umap_seconds": round(umap_s, 3), "warmup_seconds": round(warm_s, 3)})


def _from_cache(dataset, table: str, version: int, params: ProjectionParams, hit: dict,
                color_by: str | None, start: float, rows: int) -> Projection | None:
    """The cached projection with texts and colours read back; None if it does not match."""
    positions = np.asarray(hit["positions"], dtype=np.int64)
    if len(positions) and positions.max() >= rows:
        return None
    columns = ["id", "text"] + ([color_by] if color_by and color_by not in ("id", "text") else [])
    data = dataset.take(positions, columns=columns)
    ids = [str(i) for i in data.column("id").to_pylist()]
    if ids != hit["ids"]:
        log.warning("cached projection of %s v%d does not match its rows; recomputing", table, version)
        return None
    coords = np.column_stack([np.asarray(hit["x"], np.float32), np.asarray(hit["y"], np.float32)])
    return Projection(table, version, params, ids, data.column("text").to_pylist(), coords,
                      hit["trustworthiness"], time.perf_counter() - start, True, rows, color_by,
                      _colors(data, color_by), {"umap_seconds": round(hit["seconds"], 3),
                                                "created_at": hit["created_at"].isoformat()})


def _check_color(schema: pa.Schema, color_by: str | None) -> None:
    if color_by is None:
        return
    usable = [f.name for f in schema if f.name not in HIDDEN_COLUMNS and not pa.types.is_nested(f.type)]
    if not isinstance(color_by, str) or color_by not in usable:
        raise ProjectionError(f"cannot colour by {color_by!r}; columns: {', '.join(usable)}")


def _colors(data: pa.Table, color_by: str | None) -> dict | None:
    if color_by is None:
        return None
    values = data.column(color_by).to_pylist()
    return color_values([v.isoformat() if hasattr(v, "isoformat") else v for v in values])


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    flat = column.combine_chunks()
    dim = flat.type.list_size
    return np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)

