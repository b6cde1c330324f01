"""Where exported rows go: JSON Lines (``outputs.JsonlSink``), or Parquet for a path
ending in ``.parquet``, the record schema as Arrow types, zstd, written a row group at a
time so that memory holds one row group, never the corpus.

``pyarrow`` is the optional extra ``parquet``: without it, asking for Parquet is one
line naming the extra.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from zkiz_corpus.outputs import STDOUT, JsonlSink, drop_partial, partial_beside, put_in_place
from zkiz_corpus.records import dumps
from zkiz_corpus.storing import WriteError, describe_os_error

__all__ = ["PARQUET", "ParquetSink", "RowSink", "is_parquet", "open_sink"]

PARQUET = ".parquet"
Guard = Callable[[], AbstractContextManager[Any]]
ROW_GROUP_ROWS = 50_000
ROW_GROUP_BYTES = 16 * 1024 * 1024  # of JSON text: a row group of long articles ends sooner
ZSTD_LEVEL = 3  # zstd's own default
_SURROGATE = re.compile("[\ud800-\udfff]")
CHUNK_ROWS = 1_000  # rows held as Python objects before they become Arrow arrays


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; says which extra brings it."""

    def __init__(self, message: str, option: str = "-o") -> None:
        super().__init__(message)
        self.option = option


def is_parquet(target: str) -> bool:
    return target != STDOUT and target.lower().endswith(PARQUET)


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingExtra(
            "writing Parquet needs pyarrow: pip install 'zkiz-corpus[parquet]'"
        ) from None
    return pyarrow


def record_schema(pa: Any, *, marked: bool = False) -> Any:
    """The record (``records.SCHEMA``) as Arrow types; ``duplicate_of`` when marked."""
    string = pa.string()
    fields = [
        pa.field("id", pa.int64(), nullable=False),
        # Nullable: a line appended by hand may lack a field (zkiz's records never do).
        pa.field("url", string),
        pa.field("title", string),
        pa.field("text", string),
        pa.field("source_url", string),
        pa.field("title_original", string),
        pa.field("text_original", string),
        pa.field("convert", string),
        # A time, as DuckDB, pandas and datasets all read the JSONL's RFC 3339 strings.
        pa.field("fetched_at", pa.timestamp("s", tz="UTC")),
        pa.field("sha256", string),
    ]
    if marked:
        fields.append(pa.field("duplicate_of", pa.int64()))
    return pa.schema(fields)


def cluster_schema(pa: Any) -> Any:
    """A duplicate cluster (``duplicates.DedupIndex.clusters``) as Arrow types."""
    member = pa.struct([pa.field("id", pa.int64()), pa.field("similarity", pa.float64())])
    return pa.schema(
        [
            pa.field("kept", pa.int64(), nullable=False),
            pa.field("size", pa.int64(), nullable=False),
            pa.field("ids", pa.list_(pa.int64()), nullable=False),
            pa.field("duplicates", pa.list_(member), nullable=False),
        ]
    )


class RowSink:
    """Rows out as JSON Lines: ``add`` a row (a dict), or ``add_lines`` rows already
    encoded as JSON lines; written in batches, a file replaced whole when closed."""

    BATCH = 256
    PIECE = 64 * 1024  # bytes of lines a write, at most one line more

    def __init__(self, target: str, guard: Guard = contextlib.nullcontext) -> None:
        self.sink = JsonlSink(target, atomic=target != STDOUT)
        self.guard = guard  # a write is whole lines even when a stop signal comes
        self._pending: list[bytes] = []

    def open(self) -> None:
        self.sink.open()

    def add(self, row: dict[str, Any]) -> None:
        self._pending.append(dumps(row).encode("utf-8"))
        if len(self._pending) >= self.BATCH:
            self.flush()

    def add_lines(self, lines: list[bytes]) -> None:
        self.flush()
        self._write(lines)

    def flush(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self._write(lines)

    def _write(self, lines: list[bytes]) -> None:
        """Whole lines, ``PIECE`` bytes or so at a time, each piece a section no stop
        signal cuts: a signal waits for the piece being written, not for the batch (a
        slow reader of a batch of long records would outlast the grace a signal gives)."""
        piece: list[bytes] = []
        size = 0
        for line in lines:
            piece.append(line)
            size += len(line)
            if size >= self.PIECE:
                with self.guard():
                    self.sink.write(b"".join(piece))
                piece, size = [], 0
        if piece:
            with self.guard():
                self.sink.write(b"".join(piece))

    def close(self) -> None:
        self.flush()
        self.sink.close()

    def discard(self) -> None:
        self._pending = []
        self.sink.discard()


class ParquetSink:
    """Rows out as a Parquet file: beside ``target`` until closed, then renamed into
    place, so a failed or interrupted export leaves any earlier file as it was."""

    def __init__(self, target: str, schema: Any) -> None:
        self.pa = _pyarrow()
        self.target = target
        self.schema = schema
        self._names = schema.names
        self._columns: dict[str, list[Any]] = {name: [] for name in self._names}
        self._chunks: list[Any] = []  # of the row group being gathered, as Arrow batches
        self._rows = 0
        self._bytes = 0
        self._writer: Any = None
        self._fd = -1  # the file being written, kept open to sync it before the rename
        self._temporary: str | None = None

    def open(self) -> None:
        import pyarrow.parquet as pq

        path = Path(os.path.realpath(self.target))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if not stat.S_ISREG(path.stat().st_mode):
                    raise WriteError(self.target, "not a regular file: Parquet needs one")
            self._fd, self._temporary = partial_beside(path)
            self._writer = pq.ParquetWriter(
                self._temporary,
                self.schema,
                compression="zstd",
                compression_level=ZSTD_LEVEL,
            )
        except OSError as exc:
            self.discard()
            raise WriteError(self.target, describe_os_error(exc)) from exc

    def add(self, row: dict[str, Any], size: int = 0) -> None:
        for name in self._names:
            self._columns[name].append(row.get(name))
        self._rows += 1
        self._bytes += size or 256
        if len(self._columns[self._names[0]]) >= CHUNK_ROWS:
            self._chunk()
        if self._rows >= ROW_GROUP_ROWS or self._bytes >= ROW_GROUP_BYTES:
            self.flush()

    def add_lines(self, lines: list[bytes]) -> None:
        for line in lines:
            self.add(json.loads(line), len(line))

    def _chunk(self) -> None:
        """The rows gathered so far as Arrow arrays: a row group is held as Arrow's compact
        buffers, not as Python objects, until it is written."""
        columns = self._columns
        self._columns = {name: [] for name in self._names}
        if "fetched_at" in columns:
            columns["fetched_at"] = self._times(columns["fetched_at"])
        make = self.pa.RecordBatch.from_pydict
        try:
            batch = make(columns, schema=self.schema)
        except (self.pa.ArrowInvalid, self.pa.ArrowTypeError, UnicodeEncodeError):
            batch = make(_mended(columns, self.schema), schema=self.schema)
        self._chunks.append(batch)

    def flush(self) -> None:
        if self._columns[self._names[0]]:
            self._chunk()
        if not self._chunks:
            return
        table = self.pa.Table.from_batches(self._chunks, schema=self.schema)
        self._chunks = []
        self._rows = self._bytes = 0
        try:
            self._writer.write_table(table, row_group_size=table.num_rows)
        except OSError as exc:
            raise WriteError(self.target, describe_os_error(exc)) from exc

    def _times(self, values: list[Any]) -> Any:
        """RFC 3339 UTC strings as UTC timestamps (null for one that is not)."""
        import pyarrow.compute as pc

        strings = self.pa.array(
            [value if isinstance(value, str) else None for value in values], type=self.pa.string()
        )
        parsed = pc.strptime(strings, format="%Y-%m-%dT%H:%M:%SZ", unit="s", error_is_null=True)
        return parsed.cast(self.pa.timestamp("s", tz="UTC"))

    def close(self) -> None:
        try:
            self.flush()
            self._writer.close()
            self._writer = None
            os.fsync(self._fd)  # pyarrow wrote by name; this is the same file
            put_in_place(self._temporary, self.target)  # type: ignore[arg-type]
            self._temporary = None
        except OSError as exc:
            raise WriteError(self.target, describe_os_error(exc)) from exc
        finally:
            self.discard()

    def discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        drop_partial(self._temporary)
        self._temporary = None


def _mended(columns: dict[str, Any], schema: Any) -> dict[str, Any]:
    """Values Arrow cannot take, made so: a string with a lone surrogate (a line written
    by hand; JSON allows it, UTF-8 does not) with U+FFFD in its place, and a value of
    the wrong type as null."""
    import pyarrow as pa

    mended = dict(columns)
    for field in schema:
        values = columns[field.name]
        if not isinstance(values, list):
            continue
        if pa.types.is_string(field.type):
            mended[field.name] = [
                _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else None
                for value in values
            ]
        elif pa.types.is_integer(field.type):
            mended[field.name] = [value if type(value) is int else None for value in values]
    return mended


def open_sink(
    target: str,
    *,
    kind: str = "records",
    marked: bool = False,
    guard: Guard = contextlib.nullcontext,
) -> Any:
    """An opened sink for ``target``: Parquet if it ends in ``.parquet``, else JSONL.
    ``kind``: ``records`` or ``clusters``, the rows' schema. ``guard``: a section no
    stop signal may cut (a JSONL write; a Parquet file is renamed into place whole)."""
    if is_parquet(target):
        pa = _pyarrow()
        schema = cluster_schema(pa) if kind == "clusters" else record_schema(pa, marked=marked)
        sink: Any = ParquetSink(target, schema)
    else:
        sink = RowSink(target, guard)
    sink.open()
    return sink
