import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.embed.sources import SourceError, check_sources, resolve_sources


def test_directories_globs_and_hidden_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.jsonl").write_text('{"id": 1, "text": "x"}\n')
    (tmp_path / "sub" / "b.txt").write_text("hello\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden.jsonl").write_text("")
    files = resolve_sources((str(tmp_path),), "auto")
    assert [(f.name, f.format) for f in files] == [("a.jsonl", "jsonl"), ("sub/b.txt", "text")]
    assert [f.index for f in files] == [0, 1]
    globbed = resolve_sources((str(tmp_path / "**" / "*.txt"),), "auto")
    assert [f.name for f in globbed] == ["sub/b.txt"]


def test_missing_source_and_unknown_extension_name_the_path(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        resolve_sources((str(tmp_path / "nope.jsonl"),), "auto")
    (tmp_path / "data.bin").write_text("x")
    with pytest.raises(SourceError, match="data.bin.*--format"):
        resolve_sources((str(tmp_path / "data.bin"),), "auto")
    assert resolve_sources((str(tmp_path / "data.bin"),), "text")[0].format == "text"


def test_missing_columns_and_collisions_are_errors_naming_file_and_column(tmp_path):
    pq.write_table(pa.table({"doc_id": [1], "body": ["x"]}), tmp_path / "a.parquet")
    files = resolve_sources((str(tmp_path / "a.parquet"),), "auto")
    with pytest.raises(SourceError, match=r"a\.parquet: no column 'id'.*doc_id, body"):
        check_sources(files, "id", "text")
    check_sources(files, "doc_id", "body")
    (tmp_path / "c.csv").write_text("id,text,vector\n1,x,2\n")
    with pytest.raises(SourceError, match="'vector' collides"):
        check_sources(resolve_sources((str(tmp_path / "c.csv"),), "auto"), "id", "text")
    (tmp_path / "j.jsonl").write_text('{"id": 1, "body": "x"}\n')
    with pytest.raises(SourceError, match=r"j\.jsonl: no column 'text'"):
        check_sources(resolve_sources((str(tmp_path / "j.jsonl"),), "auto"), "id", "text")


def test_unreadable_and_mistyped_parquet(tmp_path):
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SourceError, match="broken.parquet: cannot be read as parquet"):
        check_sources(resolve_sources((str(tmp_path / "broken.parquet"),), "auto"), "id", "text")
    pq.write_table(pa.table({"id": [1], "text": [3.5]}), tmp_path / "num.parquet")
    with pytest.raises(SourceError, match="'text' has type double"):
        check_sources(resolve_sources((str(tmp_path / "num.parquet"),), "auto"), "id", "text")


def test_a_chunked_run_refuses_source_columns_named_like_its_own(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"id": "a", "text": "x", "start": 3}\n')
    files = resolve_sources((str(tmp_path / "c.jsonl"),), "auto")
    check_sources(files, "id", "text")  # an unchunked table may carry a column named start
    with pytest.raises(SourceError, match="c.jsonl: column 'start' collides with a column of a "
                                          "chunked table"):
        check_sources(files, "id", "text", chunked=True)
    (tmp_path / "d.jsonl").write_text('{"start": "a", "text": "x"}\n')
    ids_named_start = resolve_sources((str(tmp_path / "d.jsonl"),), "auto")
    check_sources(ids_named_start, "start", "text", chunked=True)  # the id column is not carried
