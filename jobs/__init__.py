"""What runs as a Ray job: embed, schedule, eval, bench, and the CLI."""

import os

__version__ = "0.1.0"

# Lance warns for every fragment written to a table that has no committed version yet, which
# is how every first run writes; keep its errors only (set these to "warn" to see them).
os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("LANCEDB_LOG", "error")
