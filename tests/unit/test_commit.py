"""Commits land on the version a run planned against, or not at all."""

from __future__ import annotations

import json

import lance
import pyarrow as pa
import pytest
from lance.fragment import write_fragments

import storage.commit as commit
from storage.commit import CommitConflictError, commit_rejects, commit_table
from storage.schema import REJECTS_SCHEMA

SCHEMA = pa.schema([("id", pa.string())])


def fragments(uri: str, ids: list[str], mode: str = "overwrite") -> list[str]:
    table = pa.table({"id": ids}, schema=SCHEMA)
    return [json.dumps(f.to_json()) for f in write_fragments(table, uri, schema=SCHEMA, mode=mode)]


@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_a_commit_planned_against_an_older_version_fails_and_changes_nothing(tmp_path, mode):
    uri = str(tmp_path / "docs.lance")
    assert commit_table(uri, fragments(uri, ["a"]), SCHEMA, "create", None) == 1
    assert commit_table(uri, fragments(uri, ["b"], mode), SCHEMA, mode, 1) == 2  # the winner
    with pytest.raises(CommitConflictError, match="table 'docs' moved from version 1 to 2"):
        commit_table(uri, fragments(uri, ["c"], mode), SCHEMA, mode, 1)
    assert lance.dataset(uri).version == 2
    assert "c" not in lance.dataset(uri).to_table().column("id").to_pylist()


def test_a_create_that_lost_the_race_fails(tmp_path):
    uri = str(tmp_path / "docs.lance")
    commit_table(uri, fragments(uri, ["a"]), SCHEMA, "create", None)
    with pytest.raises(CommitConflictError, match="created by another run meanwhile"):
        commit_table(uri, fragments(uri, ["b"]), SCHEMA, "create", None)
    assert lance.dataset(uri).to_table().column("id").to_pylist() == ["a"]


def test_two_runs_creating_the_rejects_table_keep_both_runs_rejects(tmp_path, monkeypatch):
    uri = str(tmp_path / "docs__rejects.lance")

    def rows(run):
        table = pa.Table.from_pylist([{"run_id": run, "id": run, "reason": "empty text"}],
                                     schema=REJECTS_SCHEMA)
        return [json.dumps(f.to_json()) for f in write_fragments(table, uri, schema=REJECTS_SCHEMA)]

    first, second = rows("run1"), rows("run2")
    commit_rejects(uri, first)
    real, looks = commit.latest_version, []

    def looked_too_early(path):  # the second run looked before the first one's commit landed
        looks.append(path)
        return None if len(looks) == 1 else real(path)

    monkeypatch.setattr(commit, "latest_version", looked_too_early)
    assert commit_rejects(uri, second) == 2
    assert len(looks) == 2  # its create failed, so it looked again and appended
    assert sorted(lance.dataset(uri).to_table().column("run_id").to_pylist()) == ["run1", "run2"]
