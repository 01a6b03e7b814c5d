"""Cleanup of dead runs' files: only unreferenced, old enough, and never a file a version uses."""

from __future__ import annotations

import os
import time

import lance
import pyarrow as pa
import pytest
from lance.fragment import write_fragments

from storage.cleanup import Leftovers, find_leftovers, parse_age, remove_leftovers
from storage.db import table_uri


def test_cleanup_removes_only_what_no_version_references(tmp_path):
    db = str(tmp_path)
    uri = table_uri(db, "docs")
    lance.write_dataset(pa.table({"id": ["a", "b"]}), uri)
    lance.write_dataset(pa.table({"id": ["c"]}), uri, mode="overwrite")  # v1's files: unused now
    orphan = write_fragments(pa.table({"id": ["x"]}), uri)  # a run killed before its commit
    staged = tmp_path / "docs__staging_run1.lance" / "data"
    staged.mkdir(parents=True)
    (staged / "f.lance").write_bytes(b"staged rows")
    (tmp_path / "docs2__staging_run9.lance").mkdir()  # another table's: not ours to touch

    assert find_leftovers(db, "docs", 3600) == Leftovers()  # nothing is an hour old yet
    found = find_leftovers(db, "docs", 0)
    assert [os.path.basename(p) for p in found.files] == [orphan[0].files[0].path]
    assert [os.path.basename(p) for p in found.staging] == ["docs__staging_run1.lance"]
    remove_leftovers(db, found)
    assert lance.dataset(uri, version=1).to_table().column("id").to_pylist() == ["a", "b"]
    assert lance.dataset(uri).to_table().column("id").to_pylist() == ["c"]
    assert not (tmp_path / "docs__staging_run1.lance").exists()
    assert (tmp_path / "docs2__staging_run9.lance").exists()
    assert find_leftovers(db, "docs", 0).files == []


def test_a_run_still_writing_keeps_its_files(tmp_path):
    db = str(tmp_path)
    write_fragments(pa.table({"id": ["x"]}), table_uri(db, "docs"))  # no version yet
    assert find_leftovers(db, "docs", 60).files == []
    time.sleep(0.05)
    assert len(find_leftovers(db, "docs", 0.01).files) == 1


@pytest.mark.parametrize("text, seconds", [("0", 0), ("90", 90), ("90s", 90), ("30m", 1800),
                                           ("12h", 43200), ("7d", 604800)])
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "-1", "soon", "3w"])
def test_bad_ages(text):
    with pytest.raises(ValueError):
        parse_age(text)
