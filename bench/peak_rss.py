"""Run a command and write its own peak RSS (KiB) to a file: `python bench/peak_rss.py OUT CMD...`.

The kernel's ru_maxrss for a child also counts the process it was spawned from (the parent's
pages, up to exec), so a benchmark holding a corpus inflates its child's figure by its own size.
Spawned from this small process instead, the child's figure is the child's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    """Spawn the command, wait for it, record its peak, exit with its code."""
    out, command = Path(sys.argv[1]), sys.argv[2:]
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    out.write_text(str(usage.ru_maxrss))
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
