"""Receiving an uploaded file as a stream: raw body or multipart, written to a temporary file, stopped at the limit.

Nothing is buffered in memory and nothing past the limit is read: a declared ``Content-Length`` over the
limit is refused before the body is touched, and a body that grows past it is cut off at once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

from xinyidai.ingest.model import UploadTooLarge
from xinyidai.kernel.errors import InvalidInput

#: Multipart framing (boundaries, part headers) allowed on top of the file itself.
MULTIPART_SLACK = 64 * 1024
_FIELD_LIMIT = 200


@dataclass
class Received:
    """A received upload: where it was written, its size, the name the sender gave, and form fields."""

    path: Path
    size: int
    file_name: str | None
    fields: dict[str, str] = field(default_factory=dict)


class _Sink:
    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self.handle = path.open("wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise UploadTooLarge(f"上传文件超过 {self.limit // (1024 * 1024)} MiB 的限制，已停止接收", limit_bytes=self.limit)
        self.handle.write(data)

    def close(self) -> None:
        self.handle.close()


def _too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(f"上传文件超过 {limit // (1024 * 1024)} MiB 的限制", limit_bytes=limit)


async def receive(
    stream: AsyncIterator[bytes], *, content_type: str, content_length: str | None, limit: int, directory: Path
) -> Received:
    """Write the request body (raw, or the first file part of a multipart form) to a temporary file."""
    multipart = content_type.startswith("multipart/form-data")
    allowed = limit + (MULTIPART_SLACK if multipart else 0)
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError as exc:
            raise InvalidInput("Content-Length 无效") from exc
        if declared > allowed:
            raise _too_large(limit)
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    os.close(handle)
    path = Path(name)
    sink = _Sink(path, limit)
    try:
        if multipart:
            received = await _multipart(stream, content_type, sink, allowed)
        else:
            async for chunk in stream:
                sink.write(chunk)
            received = Received(path, sink.size, None)
    except BaseException:
        sink.close()
        path.unlink(missing_ok=True)
        raise
    sink.close()
    if received.size == 0:
        path.unlink(missing_ok=True)
        raise InvalidInput("上传内容为空")
    return received


class _Parts:
    """Callbacks of the streaming multipart parser: the first file part goes to the sink, short text
    fields (``item``, ``source``, ``format``) are kept."""

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.header = b""
        self.value = b""
        self.headers: dict[bytes, bytes] = {}
        self.target: str | None = None
        self.file_done = False
        self.file_name: str | None = None
        self.buffers: dict[str, bytearray] = {}
        self.fields: dict[str, str] = {}

    def on_part_begin(self) -> None:
        self.headers = {}
        self.target = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header.lower()] = self.value
        self.header = b""
        self.value = b""

    def on_headers_finished(self) -> None:
        _disposition, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options and not self.file_done:
            self.target = "\x00file"
            self.file_name = options[b"filename"].decode("utf-8", "replace")
        elif name:
            self.target = name
            self.buffers[name] = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.target == "\x00file":
            self.sink.write(data[start:end])
        elif self.target is not None:
            buffer = self.buffers[self.target]
            if len(buffer) + end - start > _FIELD_LIMIT:
                raise InvalidInput(f"表单字段 {self.target} 过长")
            buffer.extend(data[start:end])

    def on_part_end(self) -> None:
        if self.target == "\x00file":
            self.file_done = True
        elif self.target is not None:
            self.fields[self.target] = self.buffers[self.target].decode("utf-8", "replace").strip()
        self.target = None


async def _multipart(stream: AsyncIterator[bytes], content_type: str, sink: _Sink, allowed: int) -> Received:
    _value, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("multipart 请求缺少 boundary")
    parts = _Parts(sink)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": parts.on_part_begin,
            "on_header_field": parts.on_header_field,
            "on_header_value": parts.on_header_value,
            "on_header_end": parts.on_header_end,
            "on_headers_finished": parts.on_headers_finished,
            "on_part_data": parts.on_part_data,
            "on_part_end": parts.on_part_end,
        },
    )
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > allowed:
            raise _too_large(sink.limit)
        parser.write(chunk)
    parser.finalize()
    if not parts.file_done:
        raise InvalidInput("multipart 表单中没有文件（字段 file）")
    return Received(sink.path, sink.size, parts.file_name, parts.fields)
