"""Resumable runs: a driver SIGKILLed mid-run, then the same command again, on a real cluster.

The killed driver is a separate process joined to the session's Ray cluster; the resumed run
is the same command run in this process. Both use a slowed encoder (tests/support/fault_encoders).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from jobs.errors import RunError
from tests.support.corpus import REPO, corpus_records, write_jsonl
from tests.support.embedding import dataset, embed, vectors_of, wait_until
from tests.support.fault_control import FaultControl

ROWS = 20_000
pytestmark = [pytest.mark.heavy, pytest.mark.slow]  # 20,000 rows, twice over


def command(source, db: str, address: str, *extra: str) -> list[str]:
    """The embed command both the killed and the resumed run are given."""
    return [str(source), "--table", "docs", "--db", db, "--model", FaultControl.model,
            "--batch-size", "250", "--actors", "2", "--settings", '{"write_batch_rows": 1000}',
            "--address", address, "--json", *extra]


def written_rows(db: str) -> int:
    """Rows the write records of unfinished runs hold (metadata only)."""
    return sum(pq.read_metadata(p).num_rows for p in Path(db).glob("docs__staging_*/written/*.parquet"))


def kill_at_half(args: list[str], db: str, faults) -> None:
    """Start the run as its own driver process; SIGKILL it once about half its rows are written."""
    faults.set_delay(0.25)
    driver = subprocess.Popen([sys.executable, "-m", "jobs.embed", *args], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: written_rows(db) >= ROWS // 2 or driver.poll() is not None, 180)
        driver.send_signal(signal.SIGKILL)
        driver.wait(60)
    finally:
        driver.kill()
        faults.set_delay(0)
    assert driver.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert written_rows(db) < ROWS


def by_id(db: str):
    data = dataset(db).to_table(columns=["id", "vector", "content_hash"]).sort_by("id")
    return data.column("id").to_pylist(), vectors_of(data), data.column("content_hash").to_pylist()


def assert_same_table(db: str, clean_db: str) -> None:
    ids, vectors, hashes = by_id(db)
    clean_ids, clean_vectors, clean_hashes = by_id(clean_db)
    assert len(ids) == len(set(ids)), "a row was committed twice"
    assert ids == clean_ids and hashes == clean_hashes
    np.testing.assert_allclose(vectors, clean_vectors, atol=1e-6)


@pytest.fixture
def address(ray_cluster):
    return ray_cluster.get_runtime_context().gcs_address


def test_a_killed_run_resumes_embedding_only_what_it_had_not_written(
        address, faults, tmp_path, capsys):
    from jobs.embed.__main__ import main as embed_command

    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(ROWS))
    clean_db, db = str(tmp_path / "clean"), str(tmp_path / "db")
    embed(clean_db, source, model=FaultControl.model, batch_size=250)
    args = command(source, db, address)
    kill_at_half(args, db, faults)
    assert not Path(db, "docs.lance", "_versions").exists()  # nothing committed

    with pytest.raises(RunError, match=r"unfinished run .*model: .*fake:16.*--fresh"):
        embed(db, source, model="fake:16")  # other model settings: refused, nothing lost
    capsys.readouterr()
    assert embed_command(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with capsys.disabled():  # the figures, for `pytest -s`
        print(f"\nresumed run of {ROWS:,} rows: embedded {summary['embedded']:,}, resumed "
              f"{summary['resumed']:,} from {summary['resumed_from']}")
    assert summary["embedded"] <= 0.6 * ROWS and summary["resumed"] >= ROWS // 2
    assert summary["embedded"] + summary["resumed"] == summary["read"] == ROWS
    assert summary["resumed_from"] and summary["version"] == 1
    assert_same_table(db, clean_db)
    assert list(Path(db).glob("docs__staging_*")) == []  # committed: the area is gone
    orphans = set(Path(db, "docs.lance", "data").iterdir()) - {
        Path(db, "docs.lance", "data", f.path) for fr in dataset(db).get_fragments()
        for f in fr.data_files()}
    assert orphans == set()  # fragments the resumed run did not use were removed


def test_an_incremental_run_resumes_and_rows_changed_meanwhile_are_embedded_afresh(
        address, faults, tmp_path, capsys):
    from jobs.embed.__main__ import main as embed_command

    records = corpus_records(ROWS)
    source = write_jsonl(tmp_path / "c.jsonl", records[: ROWS // 4])
    db = str(tmp_path / "db")
    embed(db, source, model=FaultControl.model, batch_size=250)  # the table: the first quarter
    for r in records[:100]:
        r["text"] += " (edited)"
    write_jsonl(source, records)
    kill_at_half(command(source, db, address), db, faults)
    assert dataset(db).count_rows() == ROWS // 4

    # The source changes again before the resume: rows the dead run wrote now differ.
    record_file = sorted(Path(db).glob("docs__staging_*/written/*.parquet"))[0]
    written_ids = set(pq.read_table(record_file).column("id").to_pylist()[:5])
    for r in records:
        if r["id"] in written_ids:
            r["text"] += " (edited again)"
    write_jsonl(source, records)
    capsys.readouterr()
    assert embed_command(command(source, db, address)) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["resumed"] > 0 and summary["embedded"] + summary["resumed"] == ROWS * 3 // 4 + 100
    assert (summary["updated"], summary["inserted"]) == (100, ROWS * 3 // 4)

    clean_db = str(tmp_path / "clean")
    embed(clean_db, source, model=FaultControl.model, batch_size=250)
    assert_same_table(db, clean_db)
    edited = dataset(db).to_table(filter=f"id = '{sorted(written_ids)[0]}'").column("text")
    assert edited.to_pylist()[0].endswith("(edited again)")
