"""The query side: cosine top-k, filters, similar-by-id, vector arithmetic, Matryoshka rerank,
BM25 and hybrid (BM25 + vector, fused by reciprocal rank).

`QueryActor` is plain Python (use it in-process) and a Ray actor via `start_query_actor`.
Queries are embedded exactly as the table's documents were: model, query prefix,
max_seq_length, truncation and normalization all come from the table's provenance.
A table that fits EXACT_MEMORY_BYTES has its vectors held in memory (actors/query/memory.py):
exact searches (no ANN index, or `exact=True`) are one matrix product there, and ANN
candidates are re-scored there; larger tables are searched by LanceDB alone.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa

from actors.config import model_config_of
from actors.query.defaults import ANN_REFINE, EXACT_MEMORY_BYTES, MAX_K, RERANK_REFINE
from actors.query.encoder import QueryEncoder
from actors.query.expressions import combine, parse_expression
from actors.query.filters import render_filter
from actors.query.fusion import fuse_hits
from actors.query.memory import MemoryVectors, refine_memory, search_memory
from actors.query.results import Hit, hits_of
from actors.query.results import rerank as rerank_full
from storage.db import dataset_or_none, open_table
from storage.errors import UserError
from storage.index import default_nprobes, index_status
from storage.provenance import provenance_of
from storage.schema import HIDDEN_COLUMNS

__all__ = ["MAX_K", "Hit", "QueryActor", "QueryError", "RowNotFoundError", "check_k",
           "start_query_actor"]


class QueryError(UserError, ValueError):
    """A query that cannot be answered as asked: bad k, empty text, wrong vector size, ..."""


class RowNotFoundError(QueryError):
    """A query names a row id the table does not have."""


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
        self._memory = MemoryVectors(EXACT_MEMORY_BYTES)
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
        indexes = index_status(self.db, self.name, text=True)
        self._indexed = any("vector" in i["columns"] for i in indexes)
        self._text_indexed = any("text" in i["columns"] for i in indexes)
        self._nprobes = default_nprobes(self._table.count_rows()) if self._indexed else 0
        self.provenance, self.schema, self._version = provenance, schema, version
        self._columns = [n for n in schema.names if n not in HIDDEN_COLUMNS]
        self._dataset = None  # the Lance dataset of this version, opened by the first search

    @property
    def version(self) -> int:
        """The table version the last query ran against."""
        return self._version

    @property
    def memory_bytes(self) -> int:
        """Bytes of vectors held in memory (0 until the first search, or load_vectors, loads them)."""
        return self._memory.nbytes

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
               exact: bool = False, hybrid: bool = False) -> list[Hit]:
        """Top-k by cosine for a text or a vector, optionally filtered and reranked.

        An indexed table is searched through its ANN index unless `exact` asks for an exact
        one. `hybrid` fuses this ranking with BM25 over `text` (reciprocal rank, k from each
        side; scores are RRF relevance): it needs a text query.
        """
        if isinstance(query, str):
            return self.search_batch([query], k, filters, rerank, refine, nprobes, exact, hybrid)[0]
        k = check_k(k)
        self._sync()
        vector = self._check_vector(query)
        if rerank or hybrid:
            raise QueryError(f"{'rerank' if rerank else 'hybrid search'} needs a text query"
                             + (" (the full-size query vector)" if rerank else " (its words)"))
        return self._dense([vector], k, render_filter(filters, self.schema), refine=refine,
                           nprobes=nprobes, exact=exact)[0]

    def search_batch(self, texts: list[str], k: int = 10, filters=None, rerank: bool = False,
                     refine: int | None = None, nprobes: int | None = None,
                     exact: bool = False, hybrid: bool = False) -> list[list[Hit]]:
        """Top-k for many texts, embedded as one batch (and, in memory, ranked as one product)."""
        k = check_k(k)
        self._sync()
        texts = [_check_text(t) for t in texts]
        where = render_filter(filters, self.schema)
        vectors = self._encoder.embed_queries(texts)
        fulls = self._encoder.embed_queries(texts, full=True) if rerank else None
        dense = self._dense(vectors, k, where, rerank, fulls, refine=refine, nprobes=nprobes,
                            exact=exact)
        if not hybrid:
            return dense
        return [fuse_hits(d, self._keyword(t, k, where), k) for d, t in zip(dense, texts, strict=True)]

    def bm25_search(self, text: str, k: int = 10, filters=None) -> list[Hit]:
        """Top-k by BM25 over `text` alone (the full-text index); scores are BM25 scores."""
        return self.bm25_search_batch([text], k, filters)[0]

    def bm25_search_batch(self, texts: list[str], k: int = 10, filters=None) -> list[list[Hit]]:
        """bm25_search for many texts."""
        k = check_k(k)
        self._sync()
        where = render_filter(filters, self.schema)
        return [self._keyword(_check_text(t), k, where) for t in texts]

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
        return self._dense([vector], k, render_filter(conditions, self.schema))[0]

    def arithmetic(self, expression: str, k: int = 10, filters=None) -> list[Hit]:
        """Rows closest to a signed sum like "king - man + woman"; operands are left out."""
        k = check_k(k)
        self._sync()
        terms = parse_expression(expression)
        vectors = self._encoder.embed_queries([phrase for _, phrase in terms])
        target = combine(vectors, [sign for sign, _ in terms])
        operands = {phrase.strip().lower() for _, phrase in terms}
        hits = self._dense([target], min(k + len(operands), MAX_K),
                           render_filter(filters, self.schema))[0]
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

    def _dense(self, vectors, k: int, where: str | None, rerank: bool = False, fulls=None, *,
               refine: int | None = None, nprobes: int | None = None,
               exact: bool = False) -> list[list[Hit]]:
        """Top-k per query vector: in memory when exact and held, else through LanceDB."""
        # refine and nprobes left None take the defaults (actors/query/defaults.py), so every
        # kind of query searches an index alike.
        if rerank and "vector_full" not in self.schema.names:
            raise QueryError(f"table {self.name!r} has no vector_full column: embed with "
                             "--truncate-dim and --keep-full to rerank")
        limit = min(k * max(refine or RERANK_REFINE, 1), MAX_K) if rerank else k
        columns = self._columns + (["vector_full"] if rerank else [])
        state = self._memory_state()
        if state is not None and (exact or not self._indexed):
            found = [(f.rows, f.scores) for f in
                     search_memory(state, np.asarray(vectors), limit, where, columns)]
        elif state is not None:
            found = [(f.rows, f.scores) for f in refine_memory(
                state, np.asarray(vectors), limit, where, columns, nprobes or self._nprobes,
                max(refine or ANN_REFINE, 1))]
        else:
            found = [self._lancedb_search(v, limit, where, columns, nprobes, refine, exact)
                     for v in vectors]
        out = []
        for i, (result, scores) in enumerate(found):
            if rerank:
                result, scores = rerank_full(result, fulls[i], k)
            out.append(self._hits(result, scores))
        return out

    def load_vectors(self) -> int:
        """Load the current version's vectors into memory now (else the first query does); bytes held."""
        self._sync()
        self._memory_state()
        return self.memory_bytes

    def _memory_state(self):
        """The in-memory vectors of this version (exact search, ANN refine), or None if too big."""
        if self._dataset is None:
            self._dataset = dataset_or_none(self.db, self.name, self._version)
        return self._memory.current(self._dataset) if self._dataset is not None else None

    def _lancedb_search(self, vector, limit: int, where: str | None, columns: list[str],
                        nprobes: int | None, refine: int | None, exact: bool):
        query = self._table.search(vector, vector_column_name="vector").distance_type("cosine") \
            .limit(limit).select(columns)
        if where:
            query = query.where(where, prefilter=True)
        if exact:
            query = query.bypass_vector_index()
        elif self._indexed:
            query = query.nprobes(nprobes or self._nprobes).refine_factor(
                max(refine or ANN_REFINE, 1))
        result = query.to_arrow()
        return result, 1.0 - result.column("_distance").to_numpy()

    def _keyword(self, text: str, k: int, where: str | None) -> list[Hit]:
        """BM25 top-k over `text`, filtered first like every other search."""
        if not self._text_indexed:
            raise QueryError(f"table {self.name!r} has no full-text index: build it with "
                             f"`embedfleet index {self.name} --fts` (embed runs build it with the "
                             "ANN index, past --index-threshold rows, and keep it fresh)")
        query = self._table.search(text, query_type="fts", fts_columns="text").limit(k) \
            .select(self._columns)
        if where:
            query = query.where(where, prefilter=True)
        result = query.to_arrow()
        return self._hits(result, result.column("_score").to_numpy())

    def _hits(self, result: pa.Table, scores: np.ndarray) -> list[Hit]:
        return hits_of(result, scores, [c for c in self._columns if c not in ("id", "text")])


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
