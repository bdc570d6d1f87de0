"""The gateway's HTTP/1.1 client to its services: keep-alive pools on the event loop, httptools.

Why not a general client: measured on the proxy path (``bench/gateway_clients.py``,
``docs/decisions/gateway.md``) aiohttp spends about 150 us of CPU per proxied request in Python,
and pyreqwest, whose Rust runtime runs on its own thread, loses about as much again handing the
GIL back and forth with the event loop once the gateway's own work keeps the loop busy. The
gateway needs far less than either offers: plain HTTP/1.1 to its own services, no TLS, cookies,
redirects or decompression. This client is that much: one ``asyncio.Protocol`` per connection,
the response parsed by httptools (llhttp, already installed for uvicorn), bodies streamed with
back-pressure both ways, idle connections kept per origin.

Connections go back to the pool only after a complete response that allows keep-alive; one that
idled longer than ``IDLE_SECONDS`` (under the services' 5 s keep-alive), or that the service has
closed meanwhile, is dropped rather than reused.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

IDLE_SECONDS = 4.0
MAX_IDLE_PER_ORIGIN = 256
HIGH_WATER = 256 * 1024  # response bytes buffered before reading from the service pauses


class UpstreamError(Exception):
    """The service gave no (complete) answer."""


class UpstreamConnectError(UpstreamError):
    """No connection could be made: nothing reached the service."""


class UpstreamDisconnected(UpstreamError):
    """The connection broke before or while the answer arrived."""


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.head_only = False
        self._reset()
        self._write_ready: asyncio.Future[None] | None = None
        self._writing_paused = False

    def _reset(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.response: asyncio.Future[None] = self.loop.create_future()
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.error: BaseException | None = None
        self.body_waiter: asyncio.Future[None] | None = None
        self.reading_paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(UpstreamDisconnected(f"invalid response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            self._fail(UpstreamDisconnected("the service closed the connection"))
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # informational: the real answer follows
            self.headers = []
            return
        self.status = status
        if not self.response.done():
            self.response.set_result(None)
        if self.head_only:
            # llhttp cannot be told the request was HEAD, so a Content-Length here would make it
            # wait for a body that never comes: the answer ends with its headers and the
            # connection is not reused.
            self.complete = True
            self.closed = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.status:  # the end of an informational answer
            return
        self.complete = True
        if not self.parser.should_keep_alive():
            self.closed = True
        self._wake()

    # helpers
    def _wake(self) -> None:
        if self.body_waiter is not None and not self.body_waiter.done():
            self.body_waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self.error = error
        if not self.response.done():
            self.response.set_exception(error)
            self.response.exception()  # retrieved: a request cancelled meanwhile must not warn
        self._wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def drain(self) -> None:
        if self._writing_paused and not self.closed:
            self._write_ready = self.loop.create_future()
            await self._write_ready
            if self.closed:
                raise UpstreamDisconnected("the service closed the connection")

    async def next_chunk(self) -> bytes | None:
        while True:
            if self.chunks:
                chunk = self.chunks.popleft()
                self.buffered -= len(chunk)
                if self.reading_paused and self.buffered <= HIGH_WATER // 4 and self.transport:
                    self.reading_paused = False
                    self.transport.resume_reading()
                return chunk
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            self.body_waiter = self.loop.create_future()
            await self.body_waiter
            self.body_waiter = None


class UpstreamResponse:
    """A service's answer whose body is still to be read; ``release`` returns the connection."""

    def __init__(self, client: UpstreamClient, origin: str, connection: _Connection) -> None:
        self._client = client
        self._origin = origin
        self._connection: _Connection | None = connection
        self.status = connection.status
        self.headers = connection.headers

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return self.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        assert connection is not None
        while (chunk := await connection.next_chunk()) is not None:
            yield chunk

    def whole_body(self) -> bytes | None:
        """The whole body when it has already arrived (small answers usually have), else None
        (then ``chunks`` streams it)."""
        connection = self._connection
        if connection is None or not connection.complete or connection.error is not None:
            return None
        chunks = connection.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        connection.buffered = 0
        return body

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def small_body(self, limit: int) -> bytes | None:
        """The whole body when its Content-Length declares at most ``limit`` bytes, read before
        anything is relayed (so an instance that dies mid-answer can still be retried), else
        None (then ``chunks`` streams it). Raises ``UpstreamError`` if the answer is cut short."""
        declared = None
        for name, value in self.headers:
            if name.lower() == b"content-length":
                declared = int(value) if value.isdigit() else None
                break
        if declared is None or declared > limit:
            return None
        return await self.read()

    async def release(self) -> None:
        self.release_now()

    def release_now(self) -> None:
        """``release`` without an await (it never waits)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client._give_back(self._origin, connection)


def _origin_of(url: str) -> tuple[str, str, int, str]:
    """(origin, host, port, path with query) of an http:// URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UpstreamConnectError(f"only http:// services are supported, not {url!r}")
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return f"{parts.hostname}:{port}", parts.hostname, port, path


class UpstreamClient:
    """Keep-alive connection pools per service origin, on the running event loop."""

    def __init__(self) -> None:
        self._idle: dict[str, list[_Connection]] = {}
        self._origins: dict[str, tuple[str, str, int, bytes, str]] = {}
        self._open: set[_Connection] = set()

    def _split(self, base_url: str) -> tuple[str, str, int, bytes, str]:
        """(origin, host, port, host header, path prefix) of a base URL, parsed once per base."""
        known = self._origins.get(base_url)
        if known is None:
            origin, host, port, prefix = _origin_of(base_url)
            host_header = (host if port == 80 else f"{host}:{port}").encode("latin-1")
            prefix = prefix.rstrip("/")
            known = self._origins[base_url] = (origin, host, port, host_header, prefix)
        return known

    async def _connect(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(lambda: _Connection(loop), host, port)
        except OSError as exc:
            raise UpstreamConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._open.add(connection)
        return connection

    def _take_idle(self, origin: str) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            self._discard(connection)
        return None

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def _give_back(self, origin: str, connection: _Connection) -> None:
        if connection.closed or not connection.complete or connection.error is not None:
            self._discard(connection)
            return
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            self._discard(connection)
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    async def request(
        self,
        method: str,
        base_url: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None = None,
        *,
        body_length: int | None = None,
    ) -> UpstreamResponse:
        """Send ``method target`` to the service at ``base_url`` (``http://host:port``) and
        return once the response's status and headers arrived. ``headers`` must not carry
        ``Host``, ``Content-Length`` or ``Transfer-Encoding``: the client writes them. A streamed
        body is sent with ``body_length`` as its length when known, else chunked."""
        origin, host, port, host_header, prefix = self._split(base_url)
        request_line = f"{method} {prefix}{target} HTTP/1.1\r\nhost: "
        head = [request_line.encode("latin-1"), host_header, b"\r\n"]
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        chunked = False
        if isinstance(body, bytes):
            head.append(b"content-length: %d\r\n" % len(body))
        elif body is not None:
            if body_length is not None:
                head.append(b"content-length: %d\r\n" % body_length)
            else:
                head.append(b"transfer-encoding: chunked\r\n")
                chunked = True
        elif method in ("POST", "PUT", "PATCH"):
            head.append(b"content-length: 0\r\n")
        head.append(b"\r\n")
        request_head = b"".join(head)
        connection = self._take_idle(origin)
        if connection is None:
            connection = await self._connect(host, port)
        connection._reset()
        connection.head_only = method == "HEAD"
        try:
            if body is None or isinstance(body, bytes):
                # the whole request in one write, no coroutine of its own
                transport = connection.transport
                assert transport is not None
                transport.write(request_head + body if body else request_head)
            else:
                await self._send(connection, request_head, body, chunked)
            await connection.response
        except BaseException:
            self._discard(connection)
            raise
        return UpstreamResponse(self, origin, connection)

    @staticmethod
    async def _send(
        connection: _Connection,
        head: bytes,
        body: bytes | AsyncIterator[bytes] | None,
        chunked: bool,
    ) -> None:
        transport = connection.transport
        assert transport is not None
        if body is None or isinstance(body, bytes):
            transport.write(head + body if body else head)
            return
        transport.write(head)
        async for chunk in body:
            if connection.closed:
                raise UpstreamDisconnected("the service closed the connection")
            if chunked:
                transport.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            else:
                transport.write(chunk)
            await connection.drain()
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def fetch(
        self, method: str, url: str, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, bytes]:
        """A whole small answer: (status, body)."""
        origin, _, _, target = _origin_of(url)
        response = await self.request(method, f"http://{origin}", target, headers)
        try:
            return response.status, await response.read()
        finally:
            await response.release()

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
