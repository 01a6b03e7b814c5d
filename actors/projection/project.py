"""Make or fetch the UMAP projection of one table version: sample, project, score, cache.

A chunked table is mapped one point per document (actors/projection/documents.py): the sample
is of documents, `rows` counts documents, and a point's id is its doc_id.
"""

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
from actors.projection.documents import document_rows, mean_vectors, sampled_chunks
from storage.db import dataset_or_none, open_table
from storage.projection_cache import load_projection, save_projection
from storage.schema import CHUNK, DOC_ID, HIDDEN_COLUMNS, is_chunked

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
    if dataset.count_rows() == 0:
        raise ProjectionError(f"table {table!r} is empty at version {version}")
    start = time.perf_counter()
    chunks = _chunk_index(dataset)
    rows = dataset.count_rows() if chunks is None else len(chunks[0])
    id_column = "id" if chunks is None else DOC_ID
    key = cache_key(table, version, params)
    hit = load_projection(db, table, key)
    if hit is not None:
        projection = _from_cache(dataset, table, version, params, hit, color_by, start, rows,
                                 id_column)
        if projection is not None:
            return projection
    warm_s = warm_umap()
    sampled = sample_positions(rows, params.n, params.seed)
    # A document's row is its first chunk's: its id, its opening text and its carried columns.
    positions = sampled if chunks is None else chunks[1][sampled]
    data = dataset.take(positions, columns=_columns(id_column, color_by) + ["vector"])
    vectors = (_matrix(data.column("vector")) if chunks is None
               else _document_vectors(dataset, chunks[2], sampled))
    compute = time.perf_counter()
    coords = run_umap(vectors, params)
    umap_s = time.perf_counter() - compute
    trust = trustworthiness(vectors, coords, k=10)
    ids = [str(i) for i in data.column(id_column).to_pylist()]
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
                      {"umap_seconds": round(umap_s, 3), "warmup_seconds": round(warm_s, 3),
                       **_unit(chunks is not None)})


def _from_cache(dataset, table: str, version: int, params: ProjectionParams, hit: dict,
                color_by: str | None, start: float, rows: int, id_column: str) -> Projection | None:
    """The cached projection with texts and colours read back; None if it does not match."""
    positions = np.asarray(hit["positions"], dtype=np.int64)
    if len(positions) and positions.max() >= dataset.count_rows():
        return None
    data = dataset.take(positions, columns=_columns(id_column, color_by))
    ids = [str(i) for i in data.column(id_column).to_pylist()]
    if ids != hit["ids"]:
        log.warning("cached projection of %s v%d does not match its rows; recomputing", table, version)
        return None
    coords = np.column_stack([np.asarray(hit["x"], np.float32), np.asarray(hit["y"], np.float32)])
    return Projection(table, version, params, ids, data.column("text").to_pylist(), coords,
                      hit["trustworthiness"], time.perf_counter() - start, True, rows, color_by,
                      _colors(data, color_by), {"umap_seconds": round(hit["seconds"], 3),
                                                "created_at": hit["created_at"].isoformat(),
                                                **_unit(id_column != "id")})


def _columns(id_column: str, color_by: str | None) -> list[str]:
    return [id_column, "text"] + ([color_by] if color_by and color_by not in (id_column, "text") else [])


def _chunk_index(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For a chunked table: its documents, each one's first-chunk row, each row's document."""
    if not is_chunked(dataset.schema):
        return None
    index = dataset.to_table(columns=[DOC_ID, CHUNK])
    return document_rows(index.column(DOC_ID).to_pylist(), index.column(CHUNK).to_numpy())


def _document_vectors(dataset, inverse: np.ndarray, sampled: np.ndarray) -> np.ndarray:
    """One vector per sampled document: the normalized mean of its chunks' vectors."""
    rows, groups = sampled_chunks(inverse, sampled)
    return mean_vectors(_matrix(dataset.take(rows, columns=["vector"]).column("vector")), groups,
                        len(sampled))


def _unit(chunked: bool) -> dict:
    """On a chunked table, that a point stands for a document (titles and the page say so)."""
    return {"points_are": "documents"} if chunked else {}


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

