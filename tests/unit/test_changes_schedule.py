"""Pure logic of modes, job settings and the scheduler (no Ray, no LanceDB)."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta

import pytest

from jobs.embed.modes import resolve_mode
from jobs.ops.schedule import Scheduler, next_tick, overlap_decision, parse_cron
from jobs.ops.submit import entrypoint, is_loopback, job_config
from storage.errors import ConfigError


@pytest.mark.parametrize("requested, exists, expected", [
    (None, True, "incremental"), (None, False, "create"), ("incremental", False, "create"),
    ("rebuild", False, "create"), ("rebuild", True, "rebuild"), ("append", True, "append"),
])
def test_mode_resolution(requested, exists, expected):
    assert resolve_mode(requested, exists) == expected


def test_job_settings_make_local_paths_absolute_and_drop_the_gcs_address(tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text("table: docs\nsource: [data/a.jsonl, 's3://bucket/b.jsonl']\n"
                    "ray_address: 10.0.0.1:6379\nmodel: {model: 'fake:16'}\n")
    config = job_config(str(spec), {"mode": "rebuild"}, cwd="/work/here")
    assert config.source.paths == ("/work/here/data/a.jsonl", "s3://bucket/b.jsonl")
    assert config.db.startswith("/") and config.ray_address is None
    assert config.mode == "rebuild"
    assert job_config(str(spec), cwd="/w", submitted=False).ray_address == "10.0.0.1:6379"
    spec.write_text("table: docs\nsource: [a.jsonl]\nmode: sideways\n")
    with pytest.raises(ConfigError, match="mode must be one of"):
        job_config(str(spec))


def test_entrypoint_survives_the_shell_and_loopback_detection():
    settings = {"table": "docs", "paths": ["/data/it's here.jsonl"]}
    words = shlex.split(entrypoint(settings, "r1"))
    assert words[:4] == ["python", "-m", "jobs.embed", "--settings"]
    assert json.loads(words[4]) == settings and words[5:] == ["--run-id", "r1"]
    assert is_loopback("http://127.0.0.1:8265") and is_loopback("localhost:8265")
    assert not is_loopback("http://10.1.2.3:8265") and not is_loopback("https://ray.example.com")


def test_cron_with_seconds_and_invalid_expressions():
    start = datetime(2026, 1, 1, 1, 59, 58, tzinfo=UTC)
    assert next_tick("0 2 * * *", start) == start.replace(hour=2, minute=0, second=0)
    assert next_tick("* * * * * */5", start) == start.replace(hour=2, minute=0, second=0)
    assert parse_cron("*/2 * * * * *") == "*/2 * * * * *"
    with pytest.raises(ConfigError, match="invalid cron"):
        parse_cron("every day")


class FakeClock:
    def __init__(self):
        self.t = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += timedelta(seconds=max(seconds, 0.01))


class FakeRun:
    """Runs for `seconds` of fake time, then succeeds or fails."""

    def __init__(self, clock, run_id, seconds, ok):
        self.clock, self.run_id, self.ends, self.ok = clock, run_id, clock.now() + timedelta(
            seconds=seconds), ok
        self.message = ""

    def poll(self):
        if self.clock.now() < self.ends:
            return None
        self.message = "" if self.ok else "boom"
        return "succeeded" if self.ok else "failed"


def test_scheduler_skips_overlapping_ticks_survives_failures_and_records_them():
    clock, records, plans = FakeClock(), [], [(2.5, True), (0.5, False), (0.5, True)]

    def start(run_id):
        if not plans:
            raise RuntimeError("cluster unreachable")
        seconds, ok = plans.pop(0)
        return FakeRun(clock, run_id, seconds, ok)

    scheduler = Scheduler(cron="* * * * * *", start=start, clock=clock, poll_s=0.1,
                          record=lambda entry, t0, t1: records.append((entry, t0, t1)))
    history = scheduler.run(max_ticks=7)
    statuses = [h["status"] for h in history]
    # tick 1 starts a 2.5 s run: ticks 2 and 3 find it going; tick 4 starts a run that fails,
    # tick 5 one that succeeds; at ticks 6 and 7 the run cannot even start: recorded, not fatal.
    assert statuses[:4] == ["started", "skipped", "skipped", "succeeded"]
    assert statuses.count("skipped") == 2 and statuses.count("failed") == 3
    assert [e["status"] for e, _, _ in records] == ["skipped", "skipped", "failed", "failed",
                                                   "failed"]
    assert records[2][0]["error"] == "boom" and "could not start" in records[3][0]["error"]
    assert all(t0 <= t1 for _, t0, t1 in records)


def test_a_run_that_recorded_its_own_failure_is_not_recorded_twice():
    clock, records = FakeClock(), []
    scheduler = Scheduler(cron="* * * * * *", clock=clock, poll_s=0.1,
                          start=lambda run_id: FakeRun(clock, run_id, 0.2, ok=False),
                          recorded=lambda run_id: True,
                          record=lambda entry, t0, t1: records.append(entry))
    history = scheduler.run(max_ticks=2)
    assert [h["status"] for h in history] == ["started", "failed", "started", "failed"]
    assert records == []


def test_overlap_decision_counts_runs_started_elsewhere():
    assert overlap_decision(None, []) is None
    assert overlap_decision(None, ["embedfleet-docs-1"]) == "job embedfleet-docs-1 still running"
