"""`embedfleet schedule` with a seconds-level cron: runs happen, overlaps are skipped, failures
are recorded and the next tick runs. Each run is `python -m jobs.embed` joined to the session's
Ray cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import lance

from storage.db import table_uri
from storage.runs import list_runs
from tests.support.corpus import REPO, corpus_records, write_jsonl

BIN = os.path.join(os.path.dirname(sys.executable), "embedfleet")


def test_schedule_skips_overlaps_survives_a_failed_run_and_keeps_history(ray_cluster, db, tmp_path):
    address = ray_cluster.get_runtime_context().gcs_address
    source_dir = tmp_path / "src"
    source_dir.mkdir()  # empty: the first run fails ("no data files found")
    spec = tmp_path / "job.yaml"
    spec.write_text(f"table: sched\ndb: {db}\nsource: [{source_dir}]\nray_address: {address}\n"
                    "model: {model: 'fake:16'}\ncompute: {actors: 1}\n")

    def fix_source_after_the_first_failure(stop: threading.Event):
        while not stop.is_set():
            if any(r["status"] == "failed" for r in list_runs(db, "sched")):
                write_jsonl(source_dir / "c.jsonl", corpus_records(20))
                return
            time.sleep(0.3)

    stop = threading.Event()
    fixer = threading.Thread(target=fix_source_after_the_first_failure, args=(stop,))
    fixer.start()
    try:
        # 15 s of ticks hold a failed run, its fixed rerun (which the schedule then waits for)
        # and the skipped ticks in between.
        done = subprocess.run([BIN, "schedule", str(spec), "--cron", "* * * * * *", "--for", "15"],
                              capture_output=True, text=True, cwd=REPO, timeout=400)
    finally:
        stop.set()
        fixer.join()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "schedule ended" in done.stdout

    runs = list_runs(db, "sched")
    statuses = [r["status"] for r in runs]
    first_failure = statuses.index("failed")
    failed = runs[first_failure]
    # The job died before it could record itself; the scheduler recorded it with the reason.
    assert failed["mode"] == "schedule" and "no data files found" in failed["error"]
    assert "succeeded" in statuses[first_failure + 1:]  # a later tick ran, and ran well
    skipped = [r for r in runs if r["status"] == "skipped"]
    assert skipped and all("still running" in r["error"] for r in skipped)
    # A skipped tick names the run it waited for, and that run is in the history itself.
    finished_ids = {r["run_id"] for r in runs if r["status"] in ("succeeded", "failed")}
    assert any(r["error"].split()[1] in finished_ids for r in skipped)
    succeeded = [r for r in runs if r["status"] == "succeeded"]
    assert succeeded[0]["mode"] == "create" and succeeded[0]["embedded"] == 20
    assert all(r["mode"] == "incremental" and r["embedded"] == 0 for r in succeeded[1:])
    assert all(r["finished_at"] >= r["started_at"] for r in runs)
    assert lance.dataset(table_uri(db, "sched")).version == 1  # unchanged runs add no version
    table = subprocess.run([BIN, "runs", "sched", "--db", db], capture_output=True, text=True)
    assert table.returncode == 0 and "skipped" in table.stdout and "still running" in table.stdout
