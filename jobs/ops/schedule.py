"""A cron scheduler for embed runs: one run at a time, failures recorded, never fatal.

The core is plain Python: the cron arithmetic, the overlap decision, and a loop driven by an
injectable clock, so it is tested without waiting. How a run starts (a Ray job, a subprocess)
is the launcher's business (jobs/ops/launch.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from croniter import croniter

from storage.errors import ConfigError

log = logging.getLogger("embedfleet.schedule")


class Run(Protocol):
    """A started run: `poll()` is None while it runs, then 'succeeded' or 'failed'."""

    run_id: str
    message: str

    def poll(self) -> str | None: ...


def parse_cron(expression: str) -> str:
    """Check a cron expression: 5 fields, or 6 with seconds last ('*/5 * * * * *')."""
    if not croniter.is_valid(expression):
        raise ConfigError(f"invalid cron expression {expression!r}: use 5 fields (minute hour day "
                          "month weekday) or 6 with seconds last")
    return expression


def next_tick(expression: str, after: datetime) -> datetime:
    """The first time after `after` that the cron expression names (same time zone)."""
    return croniter(expression, after).get_next(datetime)


def overlap_decision(current: Run | None, running_elsewhere: list[str]) -> str | None:
    """Why a tick must be skipped (a run still going), or None when it may start one."""
    if current is not None:
        return f"run {current.run_id} still running"
    if running_elsewhere:
        return f"job {running_elsewhere[0]} still running"
    return None


class Clock:
    """Wall-clock time; tests pass a fake one."""

    def now(self) -> datetime:
        return datetime.now().astimezone()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


@dataclass
class Scheduler:
    """Starts a run at each cron tick unless the previous one is still going."""

    cron: str
    start: Callable[[str], Run]  # run id -> started run
    record: Callable[[dict, datetime, datetime], None]  # summary, started, finished
    recorded: Callable[[str], bool] = lambda run_id: False  # did the run record itself?
    running_elsewhere: Callable[[], list[str]] = list  # runs of this table started by others
    clock: Clock = field(default_factory=Clock)
    poll_s: float = 0.5
    history: list[dict] = field(default_factory=list)
    _current: Run | None = field(default=None, init=False, repr=False)
    _started_at: datetime | None = field(default=None, init=False, repr=False)

    def tick(self, at: datetime) -> dict:
        """Handle one tick: skip it if a run is going, else start one; record what happened."""
        self.poll()
        reason = overlap_decision(self._current, self._safe(self.running_elsewhere, []))
        run_id = f"{at.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        if reason is not None:
            entry = {"run_id": run_id, "status": "skipped", "mode": "schedule", "error": reason}
            self._note(entry, at, self.clock.now())
            return entry
        self._started_at = self.clock.now()
        try:
            self._current = self.start(run_id)
        except Exception as exc:  # noqa: BLE001 - a run that cannot start is a failed tick
            entry = {"run_id": run_id, "status": "failed", "mode": "schedule",
                     "error": f"could not start: {type(exc).__name__}: {exc}"}
            self._note(entry, self._started_at, self.clock.now())
            return entry
        entry = {"run_id": run_id, "status": "started"}
        self.history.append(entry)
        log.info("tick %s: started run %s", at, run_id)
        return entry

    def poll(self) -> None:
        """If the current run ended, note it; record a failure the run could not record itself."""
        if self._current is None:
            return
        # A poll that fails (cluster unreachable) counts as still running: never overlap.
        status = self._safe(self._current.poll, None)
        if status is None:
            return
        run, self._current = self._current, None
        entry = {"run_id": run.run_id, "status": status, "mode": "schedule", "error": run.message}
        if status != "succeeded" and not self._safe(lambda: self.recorded(run.run_id), False):
            self._note(entry, self._started_at, self.clock.now())
        else:
            self.history.append(entry)
            log.info("run %s %s", run.run_id, status)

    def run(self, max_ticks: int | None = None, duration: float | None = None) -> list[dict]:
        """Tick until max_ticks ticks or duration seconds have passed; then wait for the last run."""
        begin = self.clock.now()
        tick_at, ticks = next_tick(self.cron, begin), 0
        while max_ticks is None or ticks < max_ticks:
            if duration is not None and (tick_at - begin).total_seconds() > duration:
                break
            while self.clock.now() < tick_at:
                self.poll()
                self.clock.sleep(min(self.poll_s, (tick_at - self.clock.now()).total_seconds()))
            self.tick(tick_at)
            ticks += 1
            tick_at = next_tick(self.cron, max(tick_at, self.clock.now()))
        while self._current is not None:
            self.clock.sleep(self.poll_s)
            self.poll()
        return self.history

    def _note(self, entry: dict, started: datetime | None, finished: datetime) -> None:
        self.history.append(entry)
        log.warning("%s %s: %s", entry["status"], entry["run_id"], entry.get("error"))
        started = started or finished
        self._safe(lambda: self.record(entry, started.astimezone(UTC), finished.astimezone(UTC)),
                   None)

    @staticmethod
    def _safe(call: Callable, fallback):
        # The scheduler outlives whatever a run, the cluster or the runs table does.
        try:
            return call()
        except Exception:  # noqa: BLE001
            log.exception("scheduler step failed; carrying on")
            return fallback
