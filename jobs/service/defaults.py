"""Batching defaults of the service, importable without FastAPI (the CLI's --help uses them)."""

# Concurrent searches of a table are embedded together: up to this many requests per model
# call, waiting at most this long for company (5 ms adds little to a 10-20 ms query; 1 = off).
DEFAULT_MAX_BATCH = 32
DEFAULT_WAIT_MS = 5.0
