"""A Ray Data datasource that reads mixed-format corpus files with row provenance."""

from __future__ import annotations

from collections.abc import Iterator

from ray.data.datasource import FileBasedDatasource

from jobs.embed.parse import read_file_tables
from jobs.embed.sources import SourceFile


class CorpusDatasource(FileBasedDatasource):
    """Reads parquet, JSON lines, CSV and text files; each read task reads whole files in order.

    Whole-file, in-order reads are what make (file, row) a stable key between the planning
    pass and the embedding pass.
    """

    def __init__(self, sources: list[SourceFile], id_column: str, text_column: str,
                 block_bytes: int = 16 << 20, block_rows: int = 65536):
        super().__init__([s.path for s in sources])
        self._block_bytes, self._block_rows = block_bytes, block_rows
        self._by_path = {s.path: s for s in sources}
        self._id_column = id_column
        self._text_column = text_column

    def _source(self, path: str) -> SourceFile:
        # Ray hands back the path without the URI scheme; match on what follows it.
        return self._by_path.get(path) or next(
            s for p, s in self._by_path.items() if p.split("://", 1)[-1] == path)

    def _open_input_source(self, filesystem, path: str, **open_args):
        if self._source(path).format == "parquet":
            return filesystem.open_input_file(path)  # parquet needs random access
        return super()._open_input_source(filesystem, path, **open_args)

    def _read_stream(self, f, path: str) -> Iterator:
        source = self._source(path)
        yield from read_file_tables(f, source.format, source.index, source.name,
                                    self._id_column, self._text_column, self._block_bytes,
                                    self._block_rows)
