"""Projections of real tables: shape, determinism, the per-version cache, colours, the CLI maps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import lance
import numpy as np
import pytest

from actors.projection.core import ProjectionError
from actors.projection.kernels import ENTRY_KERNELS
from actors.query.actor import QueryActor
from jobs.cli.main import main
from storage.db import list_tables, table_uri
from storage.names import companion
from storage.projection_cache import cached_versions
from tests.support.corpus import SAMPLE_CORPUS, corpus_records, write_jsonl
from tests.support.embedding import copy_db, embed


@pytest.fixture(scope="module")
def proj_db(fake_sample_db, tmp_path_factory):
    """This module's copy of the session's sample table (hashing encoder): it gains versions."""
    return copy_db(fake_sample_db, tmp_path_factory.mktemp("projection"))


def test_projection_shape_rows_and_colours(proj_db):
    made = QueryActor(proj_db, "sample").project(n=120, seed=1, color_by="topic")
    rows = lance.dataset(table_uri(proj_db, "sample")).to_table(columns=["id", "text", "topic"])
    by_id = {r["id"]: r for r in rows.to_pylist()}
    assert made.coords.shape == (120, 2) and np.all(np.isfinite(made.coords))
    assert len(set(made.ids)) == 120 and set(made.ids) <= set(by_id)
    assert all(by_id[i]["text"] == t for i, t in zip(made.ids, made.texts, strict=True))
    data = made.to_dict()
    assert data["rows"] == 300 and data["colors"]["kind"] == "category"
    assert all(p["color"] == by_id[p["id"]]["topic"] for p in data["points"])
    assert 0 < made.trustworthiness <= 1
    # A sample larger than the table is the whole table.
    assert len(QueryActor(proj_db, "sample").project(n=5000, seed=0).ids) == 300


def test_same_seed_same_map_and_second_call_from_cache(proj_db):
    actor = QueryActor(proj_db, "sample")
    first = actor.project(n=150, seed=3)
    second = actor.project(n=150, seed=3)
    assert not first.cached and second.cached
    assert second.ids == first.ids and np.array_equal(second.coords, first.coords)
    assert second.trustworthiness == first.trustworthiness
    assert second.seconds < first.seconds and second.seconds < 1.0
    # Without the cache the same seed computes the same coordinates again.
    shutil.rmtree(table_uri(proj_db, companion("sample", "projections")))
    fresh = actor.project(n=150, seed=3)
    assert not fresh.cached and np.array_equal(fresh.coords, first.coords)
    other = actor.project(n=150, seed=4)
    assert other.ids != first.ids
    assert "sample__projections" not in list_tables(proj_db)


def test_new_table_version_projects_afresh(proj_db, tmp_path):
    actor = QueryActor(proj_db, "sample")
    before = actor.project(n=100, seed=5)
    extra = write_jsonl(tmp_path / "more.jsonl", corpus_records(20, prefix="extra"))
    embed(proj_db, [SAMPLE_CORPUS, extra], table="sample", mode="incremental", model="fake:64")
    after = actor.project(n=100, seed=5)
    assert after.version > before.version and not after.cached and after.rows == 320
    assert actor.project(n=100, seed=5).cached
    assert {before.version, after.version} <= set(cached_versions(proj_db, "sample"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(color_by="nope"), "cannot colour by 'nope'"),
    (dict(color_by="vector"), "cannot colour by 'vector'"),
    (dict(n=0), "n must be"),
    (dict(n_neighbors=1), "n_neighbors"),
    (dict(min_dist=-1.0), "min_dist"),
])
def test_projection_errors_are_user_errors(proj_db, kwargs, message):
    with pytest.raises(ProjectionError, match=message):
        QueryActor(proj_db, "sample").project(**kwargs)


def test_cli_writes_png_html_and_json(proj_db, tmp_path, capsys):
    outs = {ext: tmp_path / f"map.{ext}" for ext in ("png", "html", "json")}
    for ext, out in outs.items():
        code = main(["project", "sample", "--db", proj_db, "--n", "80", "--seed", "2",
                     "--color-by", "topic", "--out", str(out)])
        assert code == 0, ext
    printed = capsys.readouterr().out
    assert "80 of " in printed and "trustworthiness" in printed and "from the cache" in printed
    assert outs["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and outs["png"].stat().st_size > 5000
    data = json.loads(outs["json"].read_text())
    assert len(data["points"]) == 80 and data["color_by"] == "topic"
    page = outs["html"].read_text()
    assert "<canvas" in page and data["points"][0]["id"] in page
    assert "<script src" not in page and "http://" not in page and "https://" not in page


def test_cli_refuses_unknown_output_and_column(proj_db, tmp_path, capsys):
    assert main(["project", "sample", "--db", proj_db, "--out", str(tmp_path / "map.svg")]) == 2
    assert main(["project", "sample", "--db", proj_db, "--color-by", "nope",
                 "--out", str(tmp_path / "map.png")]) == 2
    assert main(["project", "missing", "--db", proj_db, "--out", str(tmp_path / "map.png")]) == 2
    err = capsys.readouterr().err
    assert "map.svg" in err and "cannot colour by 'nope'" in err and "no table 'missing'" in err


KERNEL_REPORT = """
import json
import numpy as np
from actors.projection.core import ProjectionParams, run_umap
from actors.projection.kernels import ENTRY_KERNELS, entry_kernels
coords = run_umap(np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32),
                  ProjectionParams(n=40, n_neighbors=5))
kernels = entry_kernels()
print(json.dumps({"coords": coords.tolist(), "found": len(kernels) == len(ENTRY_KERNELS),
                  "hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
                  "compiled": sum(sum(k.stats.cache_misses.values()) for k in kernels)}))
"""


def test_a_second_process_loads_umaps_kernels_from_the_cache():
    # Each new query actor or Serve replica compiled UMAP's kernels again (5 s of CPU here).
    # numba's own cache folder, as in production: the first process compiles into it unless
    # an earlier map on this machine already did; the second must find everything there.
    first, second = (json.loads(subprocess.run([sys.executable, "-c", KERNEL_REPORT], check=True,
                                               capture_output=True,
                                               text=True).stdout.splitlines()[-1])
                     for _ in range(2))
    assert first["found"]  # a umap-learn release that renamed one would compile it every time
    assert second["compiled"] == 0 and second["hits"] == len(ENTRY_KERNELS)
    assert second["coords"] == first["coords"]  # the cached code draws the same map
