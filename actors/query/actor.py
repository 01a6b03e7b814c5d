"""The query side: cosine top-k, filters, similar-by-id, vector arithmetic, Matryoshka rerank.

`QueryActor` is plain Python (use it in-process) and a Ray actor via `start_query_actor`.
Queries are embedded exactly as the table's documents were: model, query prefix,
max_seq_length, truncation and normalization all come from the table's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pyarrow as pa

from actors.config import model_config_of
from actors.query.defaults import ANN_REFINE, MAX_K, RERANK_REFINE
from actors.query.encoder import QueryEncoder
from actors.query.expressions import combine, parse_expression
from actors.query.filters import render_filter
from storage.db import open_table
from storage.errors import UserError
from storage.index import default_nprobes, has_vector_index
from storage.provenance import provenance_of
from storage.schema import HIDDEN_COLUMNS


class QueryError(UserError, ValueError):
    """A query that cannot be answered as asked: bad k, empty text, wrong vector size, ..."""


class RowNotFoundError(QueryError):
    """A query names a row id the table does not have."""


@dataclass(frozen=True)
class Hit:
    """One result: id, cosine similarity, text, and the row's carried columns."""

    id: str
    score: float
    text: str
    columns: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Flat JSON-ready form: id, score, text, then the carried columns."""
        return {"id": self.id, "score": self.score, "text": self.text,
                **{k: _plain(v) for k, v in self.columns.items()}}


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def check_k(k) -> int:
    """k as an int in 1..MAX_K, or a QueryError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


class QueryActor:
    """Opens one table and its model once; answers searches against the newest version."""

    def __init__(self, db: str, table: str, device: str | None = None):
        import lancedb

        from storage.db import db_path

        open_table(db, table)  # validates the name and raises TableNotFoundError clearly
        # Strong consistency: every query sees the newest committed version, so a running
        # actor picks up new runs without a restart.
        self._table = lancedb.connect(db_path(db), read_consistency_interval=timedelta(0)
                                      ).open_table(table)
        self.db, self.name, self._device = db, table, device or _device()
        self._version, self._encoder = None, None
        self._sync()

    def _sync(self) -> None:
        """Re-read provenance when the table moved on; reload the model only if it changed."""
        version = self._table.version
        if version == self._version:
            return
        schema = self._table.schema
        provenance = provenance_of(schema)
        if provenance is None:
            raise QueryError(f"table {self.name!r} has no embedfleet provenance; cannot embed queries")
        if self._encoder is None or model_config_of(provenance) != self._encoder.config:
            self._encoder = QueryEncoder(provenance, self._device)
        self.provenance, self.schema, self._version = provenance, schema, version
        self._columns = [n for n in schema.names if n not in HIDDEN_COLUMNS]
        self._indexed = has_vector_index(self.db, self.name)
        self._nprobes = default_nprobes(self._table.count_rows()) if self._indexed else 0

    @property
    def version(self) -> int:
        """The table version the last query ran against."""
        return self._version

    def info(self) -> dict:
        """Table name, version, rows and dim, for clients."""
        self._sync()
        return {"table": self.name, "version": self._version, "rows": self._table.count_rows(),
                "dim": self.provenance.dim, "model": self.provenance.model}

    def project(self, n: int = 5000, seed: int = 0, color_by: str | None = None,
                n_neighbors: int = 15, min_dist: float = 0.1):
        """UMAP (cosine) of a seeded sample of the current version, cached per version and params."""
        from actors.projection.project import project_table

        self._sync()
        return project_table(self.db, self.name, n, seed, color_by, n_neighbors, min_dist,
                             version=self._version)

    def embed_query(self, text: str, full: bool = False) -> np.ndarray:
        """The unit vector a query text gets (truncated like `vector` unless `full`)."""
        self._sync()
        return self._encoder.embed_queries([_check_text(text)], full=full)[0]

    def search(self, query, k: int = 10, filters=None, rerank: bool = False,
               refine: int | None = None, nprobes: int | None = None,
               exact: bool = False) -> list[Hit]:
        """Top-k by cosine for a text or a vector, optionally filtered and reranked.

        An indexed table is searched through its ANN index unless `exact` asks for a flat scan.
        """
        k = check_k(k)
        self._sync()
        if isinstance(query, str):
            vector = self.embed_query(query)
            full = self._encoder.embed_queries([query], full=True)[0] if rerank else None
        else:
            vector, full = self._check_vector(query), None
            if rerank:
                raise QueryError("rerank needs a text query (the full-size query vector)")
        return self._search_vector(vector, k, render_filter(filters, self.schema), rerank, full,
                                   refine=refine, nprobes=nprobes, exact=exact)

    def search_batch(self, texts: list[str], k: int = 10, filters=None, rerank: bool = False,
                     refine: int | None = None, nprobes: int | None = None) -> list[list[Hit]]:
        """Top-k for many texts, embedded as one batch."""
        k = check_k(k)
        self._sync()
        texts = [_check_text(t) for t in texts]
        where = render_filter(filters, self.schema)
        vectors = self._encoder.embed_queries(texts)
        fulls = self._encoder.embed_queries(texts, full=True) if rerank else [None] * len(texts)
        return [self._search_vector(v, k, where, rerank, f, refine=refine, nprobes=nprobes)
                for v, f in zip(vectors, fulls, strict=True)]

    def similar(self, doc_id: str, k: int = 10, filters=None) -> list[Hit]:
        """The k rows closest to a stored row's vector, the row itself excluded."""
        k = check_k(k)
        self._sync()
        found = self._table.search().where(render_filter([("id", "=", str(doc_id))], self.schema)) \
            .select(["vector"]).limit(1).to_arrow()
        if found.num_rows == 0:
            raise RowNotFoundError(f"no row with id {doc_id!r} in table {self.name!r}")
        vector = np.asarray(found.column("vector")[0].as_py(), dtype=np.float32)
        conditions = [("id", "!=", str(doc_id)), *_conditions(filters)]
        return self._search_vector(vector, k, render_filter(conditions, self.schema))

    def arithmetic(self, expression: str, k: int = 10, filters=None) -> list[Hit]:
        """Rows closest to a signed sum like "king - man + woman"; operands are left out."""
        k = check_k(k)
        self._sync()
        terms = parse_expression(expression)
        vectors = self._encoder.embed_queries([phrase for _, phrase in terms])
        target = combine(vectors, [sign for sign, _ in terms])
        operands = {phrase.strip().lower() for _, phrase in terms}
        hits = self._search_vector(target, min(k + len(operands), MAX_K),
                                   render_filter(filters, self.schema))
        return [h for h in hits if h.text.strip().lower() not in operands][:k]

    def _check_vector(self, query) -> np.ndarray:
        try:
            vector = np.asarray(query, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise QueryError("a query is a text or a list of numbers") from None
        if vector.shape[0] != self.provenance.dim:
            raise QueryError(f"query vector has {vector.shape[0]} dimensions; table "
                             f"{self.name!r} has {self.provenance.dim}")
        if not np.all(np.isfinite(vector)) or not np.any(vector):
            raise QueryError("query vector must be finite and not all zero")
        return vector / np.linalg.norm(vector)

    def _search_vector(self, vector: np.ndarray, k: int, where: str | None, rerank: bool = False,
                       full: np.ndarray | None = None, *, refine: int | None = None,
                       nprobes: int | None = None, exact: bool = False) -> list[Hit]:
        # refine and nprobes left None take the defaults (actors/query/defaults.py), so every
        # kind of query searches an index alike.
        if rerank and "vector_full" not in self.schema.names:
            raise QueryError(f"table {self.name!r} has no vector_full column: embed with "
                             "--truncate-dim and --keep-full to rerank")
        limit = min(k * max(refine or RERANK_REFINE, 1), MAX_K) if rerank else k
        query = self._table.search(vector, vector_column_name="vector").distance_type("cosine") \
            .limit(limit).select(self._columns + (["vector_full"] if rerank else []))
        if where:
            query = query.where(where, prefilter=True)
        if exact:
            query = query.bypass_vector_index()
        elif self._indexed:
            query = query.nprobes(nprobes or self._nprobes).refine_factor(
                max(refine or ANN_REFINE, 1))
        result = query.to_arrow()
        scores = 1.0 - result.column("_distance").to_numpy()
        if rerank:
            result, scores = _rerank(result, full, k)
        return self._hits(result, scores)

    def _hits(self, result: pa.Table, scores: np.ndarray) -> list[Hit]:
        carried = [c for c in self._columns if c not in ("id", "text")]
        rows = result.select(["id", "text", *carried]).to_pylist()
        return [Hit(r["id"], float(s), r["text"], {c: r[c] for c in carried})
                for r, s in zip(rows, scores, strict=True)]


def _rerank(result: pa.Table, full_query: np.ndarray, k: int) -> tuple[pa.Table, np.ndarray]:
    """Re-score candidates by cosine on their full-size vectors and keep the best k."""
    if result.num_rows == 0:
        return result, np.zeros(0)
    dim = result.schema.field("vector_full").type.list_size
    full = np.asarray(result.column("vector_full").combine_chunks().flatten(), dtype=np.float64)
    scores = full.reshape(result.num_rows, dim) @ full_query.astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return result.take(pa.array(order)), scores[order]


def _conditions(filters) -> list:
    from actors.query.filters import as_conditions

    return as_conditions(filters)


def _check_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("query text is empty")
    return text


def _device() -> str:
    """CUDA when this runs inside a Ray actor that was given a real GPU, else CPU."""
    try:
        import ray
        import torch

        from actors.encoders import choose_device

        ids = ray.get_gpu_ids() if ray.is_initialized() else []
        return choose_device(ids, torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - outside Ray, or no torch CUDA: the CPU always works
        return "cpu"


def start_query_actor(db: str, table: str, num_cpus: float = 1, num_gpus: float = 0):
    """A QueryActor as a Ray actor handle (call methods with .remote())."""
    import ray

    return ray.remote(QueryActor).options(num_cpus=num_cpus, num_gpus=num_gpus).remote(db, table)
