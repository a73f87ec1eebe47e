"""HTTP over a bare socket, for requests a client library would refuse to send (an unknown
method, a 10 KB URL, non-ASCII header bytes, a declared length it never sends) and for clients
that stop half-way. Nothing here sleeps: a read waits for the server's bytes or its EOF."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool = False  # the server closed the connection after it
    interim: list[int] = field(default_factory=list)  # 1xx answers seen before it

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        answer = self.json()
        assert set(answer) == {"error"}, answer
        assert set(answer["error"]) == {"code", "message", "details"}, answer
        code: str = answer["error"]["code"]
        return code


class RawConnection:
    """One TCP connection to the gateway, written to and read from by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, timeout: float = 15) -> RawResponse:
        """The next response (1xx answers are collected on the way), or TimeoutError."""
        interim: list[int] = []
        async with asyncio.timeout(timeout):
            while True:
                head = await self.reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                if 100 <= status < 200:
                    interim.append(status)
                    continue
                length = int(headers.get("content-length", "0"))
                body = await self.reader.readexactly(length)
                closed = headers.get("connection", "").lower() == "close"
                return RawResponse(status, headers, body, closed, interim)

    async def closed_by_server(self, timeout: float = 15) -> bytes:
        """Everything the server still sends, up to its EOF; TimeoutError if it never closes."""
        async with asyncio.timeout(timeout):
            return await self.reader.read()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def exchange(url: str, request: bytes, timeout: float = 15) -> RawResponse:
    """Send one raw request on a fresh connection and read its answer."""
    connection = await RawConnection.open(url)
    try:
        await connection.send(request)
        return await connection.response(timeout)
    finally:
        await connection.close()


def request_bytes(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    raw_headers: bytes = b"",
) -> bytes:
    """An HTTP/1.1 request; `raw_headers` are appended as given (any bytes at all)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway"]
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return "\r\n".join(lines).encode() + b"\r\n" + raw_headers + b"\r\n" + body
