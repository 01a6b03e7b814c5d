"""The console script and `python -m jobs.embed`, as a user runs them, against the session's Ray.

Commands that only read a table (info, tables) and user errors run in this process through
the same `main`: the processes started here are embed runs, one that succeeds and one that fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jobs.cli.main import main
from tests.support.corpus import REPO, corpus_records, write_jsonl

BIN = os.path.join(os.path.dirname(sys.executable), "embedfleet")


@pytest.fixture
def run_cli(ray_cluster):
    address = ray_cluster.get_runtime_context().gcs_address

    def run(*args, module=False):
        command = [sys.executable, "-m", "jobs.embed"] if module else [BIN]
        extra = ["--address", address] if (module or args[0] == "embed") else []
        return subprocess.run([*command, *args, *extra], capture_output=True, text=True, cwd=REPO,
                              timeout=300)

    return run


def read_command(capsys, *args) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of an `embedfleet` command run in this process."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_embed_json_summary_then_info_and_tables(run_cli, db, tmp_path, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(40))
    done = run_cli("embed", str(source), "--table", "docs", "--db", db, "--model", "fake:16",
                   "--truncate-dim", "8", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # stdout is the JSON alone, whatever Ray prints
    assert {"table", "version", "read", "embedded", "rejected", "seconds", "rows_per_s",
            "tokens_per_s"} <= set(summary)
    assert (summary["read"], summary["embedded"], summary["version"]) == (40, 40, 1)
    code, out, _ = read_command(capsys, "info", "docs", "--db", db, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["rows"] == 40 and data["dim"] == 8 and data["provenance"]["truncate_dim"] == 8
    assert data["provenance"]["model"] == "fake:16" and "torch" in data["libraries"]
    assert json.loads(read_command(capsys, "tables", "--db", db, "--json")[1]) == ["docs"]
    code, _, err = read_command(capsys, "embed", str(source), "--table", "docs", "--db", db,
                                "--model", "fake:16", "--mode", "create")
    assert code == 2 and "already exists" in err and "Traceback" not in err


def test_module_entrypoint_with_a_spec_file_and_flag_override(run_cli, db, tmp_path, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(12))
    spec = tmp_path / "job.yaml"
    spec.write_text(f"table: fromspec\ndb: {db}\nsource: [{source}]\nmodel:\n  model: fake:16\n"
                    "  query_prefix: 'query: '\ncompute:\n  batch_size: 4\n")
    done = run_cli("--spec", str(spec), "--table", "overridden", "--json", module=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["table"] == "overridden"
    info = json.loads(read_command(capsys, "info", "overridden", "--db", db, "--json")[1])
    assert info["provenance"]["query_prefix"] == "query: "


def test_user_errors_are_one_line_and_failed_runs_say_the_table_is_unchanged(run_cli, db, tmp_path,
                                                                          capsys):
    # One-line user errors from `main` in this process (no start-up per message); the exit code
    # and stderr of a process are those of the failed run below.
    for args, message in [(("embed", str(tmp_path / "nope.jsonl"), "--table", "t", "--db", db),
                           "source not found"),
                          (("embed", str(tmp_path), "--table", "../escape", "--db", db),
                           "invalid table name"), (("info", "nosuch", "--db", db), "no table 'nosuch'")]:
        code, _, err = read_command(capsys, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    source = write_jsonl(tmp_path / "c.jsonl", corpus_records(60))
    failed = run_cli("embed", str(source), "--table", "t", "--db", db, "--batch-size", "5",
                     "--model", "python:tests.support.fault_encoders:breaks_on_third_call")
    assert failed.returncode == 1
    assert "left at its previous version" in failed.stderr and "batch 3" in failed.stderr
