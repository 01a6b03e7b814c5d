"""The query side: cosine top-k, filters, similar-by-id, vector arithmetic, Matryoshka rerank,
BM25 and hybrid (BM25 + vector, fused by reciprocal rank).

`QueryActor` is plain Python (use it in-process) and a Ray actor via `start_query_actor`.
Queries are embedded exactly as the table's documents were: model, query prefix,
max_seq_length, truncation and normalization all come from the table's provenance.
A table that fits EXACT_MEMORY_BYTES has its vectors held in memory (actors/query/memory.py):
exact searches (no ANN index, or `exact=True`) are one matrix product there, and ANN
candidates are re-scored there; larger tables are searched by LanceDB alone.
On a chunked table (one row per chunk) every search answers with documents, each once and
scored by its best chunk (actors/query/documents.py); `group_by_document=False` gives chunks.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa

from actors.config import model_config_of
from actors.encoders.device import assigned_device
from actors.query.checks import QueryError, RowNotFoundError, check_k, check_text, check_vector
from actors.query.defaults import ANN_REFINE, CHUNK_OVERSAMPLE, EXACT_MEMORY_BYTES, MAX_K, RERANK_REFINE
from actors.query.documents import as_document, document_vector, first_limit, refill
from actors.query.encoder import QueryEncoder
from actors.query.expressions import combine, parse_expression
from actors.query.filters import as_conditions, render_filter
from actors.query.fusion import fuse_hits
from actors.query.lance_search import full_text_search, vector_search
from actors.query.memory import MemoryVectors, refine_memory, search_memory
from actors.query.results import Hit, hits_of
from actors.query.results import rerank as rerank_full
from storage.db import dataset_or_none, open_table
from storage.index import default_nprobes, index_status
from storage.provenance import provenance_of
from storage.schema import DOC_ID, HIDDEN_COLUMNS, is_chunked

__all__ = ["MAX_K", "Hit", "QueryActor", "QueryError", "RowNotFoundError", "check_k",
           "start_query_actor"]


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
        self._rows = self._table.count_rows()
        self._nprobes = default_nprobes(self._rows) if self._indexed else 0
        self._chunked = is_chunked(schema)
        self.provenance, self.schema, self._version = provenance, schema, version
        self._columns = [n for n in schema.names if n not in HIDDEN_COLUMNS]
        self._dataset = None  # the Lance dataset of this version, opened by the first search

    @property
    def version(self) -> int:
        """The table version the last query ran against."""
        return self._version

    @property
    def chunked(self) -> bool:
        """True when the table holds one row per chunk (searches answer with documents)."""
        return self._chunked

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
        return self._encoder.embed_queries([check_text(text)], full=full)[0]

    def search(self, query, k: int = 10, filters=None, rerank: bool = False,
               refine: int | None = None, nprobes: int | None = None,
               exact: bool = False, hybrid: bool = False,
               group_by_document: bool = True) -> list[Hit]:
        """Top-k by cosine for a text or a vector, optionally filtered and reranked.

        An indexed table is searched through its ANN index unless `exact` asks for an exact
        one. `hybrid` fuses this ranking with BM25 over `text` (reciprocal rank, k from each
        side; scores are RRF relevance): it needs a text query. On a chunked table the hits
        are documents (id = doc_id, text = the best chunk) unless `group_by_document=False`.
        """
        if isinstance(query, str):
            return self.search_batch([query], k, filters, rerank, refine, nprobes, exact, hybrid,
                                     group_by_document)[0]
        k = check_k(k)
        self._sync()
        vector = check_vector(query, self.provenance.dim, self.name)
        if rerank or hybrid:
            raise QueryError(f"{'rerank' if rerank else 'hybrid search'} needs a text query"
                             + (" (the full-size query vector)" if rerank else " (its words)"))
        return self._dense([vector], k, render_filter(filters, self.schema), refine=refine,
                           nprobes=nprobes, exact=exact,
                           documents=self._by_document(group_by_document))[0]

    def search_batch(self, texts: list[str], k: int = 10, filters=None, rerank: bool = False,
                     refine: int | None = None, nprobes: int | None = None,
                     exact: bool = False, hybrid: bool = False,
                     group_by_document: bool = True) -> list[list[Hit]]:
        """Top-k for many texts, embedded as one batch (and, in memory, ranked as one product)."""
        k = check_k(k)
        self._sync()
        texts = [check_text(t) for t in texts]
        where = render_filter(filters, self.schema)
        documents = self._by_document(group_by_document)
        vectors = self._encoder.embed_queries(texts)
        fulls = self._encoder.embed_queries(texts, full=True) if rerank else None
        dense = self._dense(vectors, k, where, rerank, fulls, refine=refine, nprobes=nprobes,
                            exact=exact, documents=documents)
        if not hybrid:
            return dense
        # Both sides rank documents (or both chunks), so fusion by id adds up the same things.
        return [fuse_hits(d, self._keyword(t, k, where, documents), k)
                for d, t in zip(dense, texts, strict=True)]

    def bm25_search(self, text: str, k: int = 10, filters=None,
                    group_by_document: bool = True) -> list[Hit]:
        """Top-k by BM25 over `text` alone (the full-text index); scores are BM25 scores."""
        return self.bm25_search_batch([text], k, filters, group_by_document)[0]

    def bm25_search_batch(self, texts: list[str], k: int = 10, filters=None,
                          group_by_document: bool = True) -> list[list[Hit]]:
        """bm25_search for many texts."""
        k = check_k(k)
        self._sync()
        where = render_filter(filters, self.schema)
        documents = self._by_document(group_by_document)
        return [self._keyword(check_text(t), k, where, documents) for t in texts]

    def similar(self, doc_id: str, k: int = 10, filters=None,
                group_by_document: bool = True) -> list[Hit]:
        """The k rows closest to a stored row's vector, the row itself excluded.

        On a chunked table `doc_id` names a document: its query vector is the normalized mean
        of its chunks' vectors, and all its chunks are excluded.
        """
        k = check_k(k)
        self._sync()
        key = DOC_ID if self._chunked else "id"
        # A document's chunks are few (the job caps them), so all of them fit one read.
        found = self._table.search().where(render_filter([(key, "=", str(doc_id))], self.schema)) \
            .select(["vector"]).limit(max(self._rows, 1) if self._chunked else 1).to_arrow()
        if found.num_rows == 0:
            kind = "document" if self._chunked else "row"
            raise RowNotFoundError(f"no {kind} with id {doc_id!r} in table {self.name!r}")
        vectors = np.asarray(found.column("vector").to_pylist(), dtype=np.float32)
        # The mean rather than each chunk in turn: one query vector, ranked like any search,
        # and the document's whole text speaks rather than its one closest passage.
        vector = document_vector(vectors) if self._chunked else vectors[0]
        conditions = [(key, "!=", str(doc_id)), *as_conditions(filters)]
        return self._dense([vector], k, render_filter(conditions, self.schema),
                           documents=self._by_document(group_by_document))[0]

    def arithmetic(self, expression: str, k: int = 10, filters=None,
                   group_by_document: bool = True) -> list[Hit]:
        """Rows closest to a signed sum like "king - man + woman"; operands are left out."""
        k = check_k(k)
        self._sync()
        terms = parse_expression(expression)
        vectors = self._encoder.embed_queries([phrase for _, phrase in terms])
        target = combine(vectors, [sign for sign, _ in terms])
        operands = {phrase.strip().lower() for _, phrase in terms}
        hits = self._dense([target], min(k + len(operands), MAX_K),
                           render_filter(filters, self.schema),
                           documents=self._by_document(group_by_document))[0]
        return [h for h in hits if h.text.strip().lower() not in operands][:k]

    def _by_document(self, group_by_document: bool) -> bool:
        """Whether hits are documents: on chunked tables, unless chunk hits were asked for."""
        return self._chunked and bool(group_by_document)

    def _dense(self, vectors, k: int, where: str | None, rerank: bool = False, fulls=None, *,
               refine: int | None = None, nprobes: int | None = None,
               exact: bool = False, documents: bool = False) -> list[list[Hit]]:
        """Top-k per query vector (rows, or with `documents` documents by their best chunk)."""
        # refine and nprobes left None take the defaults (actors/query/defaults.py), so every
        # kind of query searches an index alike.
        if rerank and "vector_full" not in self.schema.names:
            raise QueryError(f"table {self.name!r} has no vector_full column: embed with "
                             "--truncate-dim and --keep-full to rerank")
        per_hit = max(refine or RERANK_REFINE, 1) if rerank else 1  # candidates per result
        if not documents:
            found = self._ranked(vectors, min(k * per_hit, MAX_K), k, where, fulls,
                                 refine, nprobes, exact)
            return [self._hits(result, scores) for result, scores in found]

        def fetch(indexes: list[int], limit: int):
            # Rerank re-scores every chunk candidate, so documents are grouped on full scores.
            found = self._ranked([vectors[i] for i in indexes], limit, limit, where,
                                 None if fulls is None else [fulls[i] for i in indexes],
                                 refine, nprobes, exact, widen=True)
            return [(r.column(DOC_ID).to_pylist(), s, (r, s)) for r, s in found]

        return self._documents(fetch, len(vectors), k,
                               first_limit(k * per_hit, CHUNK_OVERSAMPLE, self._rows))

    def _ranked(self, vectors, limit: int, keep: int, where: str | None, fulls, refine, nprobes,
                exact: bool, widen: bool = False) -> list[tuple[pa.Table, np.ndarray]]:
        """Per query: its top `limit` rows and cosines (the best `keep` reranked when `fulls`)."""
        # In memory when the vectors are held there, else through LanceDB.
        columns = self._columns + (["vector_full"] if fulls is not None else [])
        state = self._memory_state()
        queries = np.asarray(vectors)
        if state is not None and (exact or not self._indexed):
            found = [(f.rows, f.scores) for f in search_memory(state, queries, limit, where, columns)]
        elif state is not None:
            found = [(f.rows, f.scores) for f in refine_memory(
                state, queries, limit, where, columns, nprobes or self._nprobes,
                max(refine or ANN_REFINE, 1))]
            short = [i for i, (result, _) in enumerate(found) if result.num_rows < limit]
            if widen and short:
                # The ANN probes only some partitions: fewer candidates than asked there (a
                # narrow filter) does not mean the table has no more, an exact answer does.
                exact_found = search_memory(state, queries[short], limit, where, columns)
                for i, f in zip(short, exact_found, strict=True):
                    found[i] = (f.rows, f.scores)
        else:
            found = [self._lancedb_search(v, limit, where, columns, nprobes, refine, exact, widen)
                     for v in queries]
        if fulls is None:
            return found
        return [rerank_full(result, full, keep) for (result, _), full in zip(found, fulls, strict=True)]

    def _documents(self, fetch, queries: int, k: int, first: int) -> list[list[Hit]]:
        """Document hits: chunk candidates fetched and refilled until k documents (documents.py)."""
        out = []
        for (result, scores), grouped in refill(fetch, queries, k, first, self._rows):
            best = result.take(pa.array(grouped.positions, type=pa.int64()))
            out.append([as_document(h) for h in self._hits(best, scores[grouped.positions])])
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
                        nprobes: int | None, refine: int | None, exact: bool, widen: bool = False):
        probes = (nprobes or self._nprobes) if self._indexed else None
        return vector_search(self._table, vector, limit, where, columns, probes,
                             max(refine or ANN_REFINE, 1), exact, widen)

    def _keyword(self, text: str, k: int, where: str | None, documents: bool = False) -> list[Hit]:
        """BM25 top-k over `text` (rows, or documents by their best chunk), filtered first."""
        if not self._text_indexed:
            raise QueryError(f"table {self.name!r} has no full-text index: build it with "
                             f"`embedfleet index {self.name} --fts` (embed runs build it with the "
                             "ANN index, past --index-threshold rows, and keep it fresh)")
        if not documents:
            return self._hits(*full_text_search(self._table, text, k, where, self._columns))

        def fetch(_: list[int], limit: int):
            result, scores = full_text_search(self._table, text, limit, where, self._columns)
            return [(result.column(DOC_ID).to_pylist(), scores, (result, scores))]

        return self._documents(fetch, 1, k, first_limit(k, CHUNK_OVERSAMPLE, self._rows))[0]

    def _hits(self, result: pa.Table, scores: np.ndarray) -> list[Hit]:
        return hits_of(result, scores, [c for c in self._columns if c not in ("id", "text")])


def _device() -> str:
    """CUDA when this runs inside a Ray actor that was given a real GPU, else CPU."""
    try:
        return assigned_device()
    except Exception:  # noqa: BLE001 - a broken CUDA install: the CPU always works
        return "cpu"


def start_query_actor(db: str, table: str, num_cpus: float = 1, num_gpus: float = 0):
    """A QueryActor as a Ray actor handle (call methods with .remote())."""
    import ray

    return ray.remote(QueryActor).options(num_cpus=num_cpus, num_gpus=num_gpus).remote(db, table)
