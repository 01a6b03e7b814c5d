"""Progress as a person sees it: a bar that reaches its total on a terminal, plain lines in logs."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

from tests.support.corpus import REPO, corpus_records, write_jsonl

ROWS = 3000
RAY_DATA_NOISE = ("logging_progress", "streaming_executor", "Execution Progress", "Progress bars")


def command(ray_cluster, db: str, source) -> list[str]:
    address = ray_cluster.get_runtime_context().gcs_address
    return [sys.executable, "-m", "jobs.embed", str(source), "--table", "docs", "--db", db,
            "--model", "fake:8", "--batch-size", "100", "--address", address]


def run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as its stdout and stderr; its exit code and output."""
    leader, follower = pty.openpty()
    # A real terminal's size, as a person's has (a fresh pseudo-terminal reports 0 x 0).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, cwd=REPO)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_the_bar_reaches_the_total_on_a_terminal(ray_cluster, db, tmp_path):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(ROWS))
    code, output = run_on_a_terminal(command(ray_cluster, db, source))
    assert code == 0, output
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output).replace("\r", "\n")
    assert "planned in" in screen and f"{ROWS:,} to embed" in screen
    bar = [line for line in screen.splitlines() if line.startswith("embedding")]
    assert bar and f"{ROWS}/{ROWS}" in bar[-1] and "tokens/s" in bar[-1], bar[-3:]
    assert f"read {ROWS} = embedded {ROWS}" in screen
    assert not any(noise in screen for noise in RAY_DATA_NOISE)


def test_job_logs_get_plain_progress_lines(ray_cluster, db, tmp_path):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(ROWS))
    done = subprocess.run(command(ray_cluster, db, source), capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("embedding: ")]
    assert lines[0].startswith(f"embedding: 0/{ROWS:,} rows")
    assert lines[-1].startswith(f"embedding: {ROWS:,}/{ROWS:,} rows (100%)")
    assert not any(noise in done.stderr for noise in RAY_DATA_NOISE)
    assert done.stdout.strip().startswith(f"docs v1 (create): read {ROWS} = embedded {ROWS}")
