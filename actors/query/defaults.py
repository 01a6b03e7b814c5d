"""The query side's limits and search defaults, defined once (light: the CLI's help reads them)."""

from __future__ import annotations

# The most results one query may ask for, in Python and on the command line. The HTTP API
# has its own, lower limit (jobs/service/app.py HTTP_MAX_K): it answers anyone who can reach it.
MAX_K = 10_000
RERANK_REFINE = 4  # rerank: k * this many candidates on the truncated vectors
# ANN search: k * this many candidates re-scored exactly (from memory when the table fits
# EXACT_MEMORY_BYTES). PQ codes alone rank coarsely; on 1M clustered 384-d vectors recall@10
# stops rising past 20x, and nprobes (default_nprobes) sets the rest (docs/BENCHMARKS.md).
ANN_REFINE = 20
# A query actor holds a table's `vector` column in memory (float32, plus an 8-byte row id per
# row) up to this many bytes: 1,000,000 x 384 takes 1.55 GB. Exact search is then one matrix
# product, ANN candidates are re-scored without a disk read. Larger tables are left to
# LanceDB, whose flat scan reads and decodes the column on every query.
EXACT_MEMORY_BYTES = 2 * 1024**3
# Chunked tables: a document search first asks for k * this many chunks (then refills until it
# has k distinct documents). Default chunking of SciFact gives 1.9 chunks per document, and a
# relevant document often places several chunks near the top: 4x gives k documents in one round
# on most queries, and a short round costs only one more search (actors/query/documents.py).
CHUNK_OVERSAMPLE = 4
