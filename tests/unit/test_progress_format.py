"""The progress a person reads: the plain line, durations, and the 10-second throttle for logs."""

from __future__ import annotations

from jobs.embed.progress import Counts, LineThrottle, format_seconds, progress_line


def test_the_plain_line_has_total_rate_tokens_rejects_and_eta():
    line = progress_line(Counts(rows=1200, tokens=24000, rejected=3), total=4000, elapsed=10.0)
    assert line == ("embedding: 1,200/4,000 rows (30%), 120 rows/s, 2,400 tokens/s, 3 rejected, "
                    "ETA 23s")


def test_done_is_capped_at_the_total_and_has_no_eta():
    # A restarted actor reruns its batches, so the counter can pass the total.
    line = progress_line(Counts(rows=4100, tokens=0, rejected=0), total=4000, elapsed=4.0)
    assert line.startswith("embedding: 4,000/4,000 rows (100%), 1,000 rows/s") and "ETA" not in line


def test_nothing_done_yet_gives_no_rate_and_no_eta():
    assert progress_line(Counts(), total=10, elapsed=0.0) == (
        "embedding: 0/10 rows (0%), 0 rows/s, 0 tokens/s, 0 rejected")


def test_durations_read_as_a_person_writes_them():
    assert [format_seconds(s) for s in (9, 75, 3725)] == ["9s", "1m15s", "1h02m"]


def test_log_lines_come_at_most_every_ten_seconds():
    throttle = LineThrottle(every=10.0)
    due = [t for t in (0.0, 0.5, 9.9, 10.0, 12.0, 19.9, 20.1) if throttle.due(t)]
    assert due == [0.0, 10.0, 20.1]
