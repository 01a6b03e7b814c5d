"""The query side's limits and search defaults, defined once (light: the CLI's help reads them)."""

from __future__ import annotations

# The most results one query may ask for, in Python and on the command line. The HTTP API
# has its own, lower limit (jobs/service/app.py HTTP_MAX_K): it answers anyone who can reach it.
MAX_K = 10_000
RERANK_REFINE = 4  # rerank: k * this many candidates on the truncated vectors
# ANN search: k * this many candidates re-scored exactly. PQ codes alone rank coarsely; with
# 30x (and nprobes from default_nprobes) 1M clustered 384-d vectors reach recall@10 0.96
# (docs/BENCHMARKS.md).
ANN_REFINE = 30
