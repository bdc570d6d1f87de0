"""The gateway's own HTTP/1.1 client against real sockets: framing, reuse, HEAD, failures.

The services are asyncio servers written here byte by byte, so each case controls exactly what
the wire carries (chunked answers, ``Connection: close``, a connection dropped while idle).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from tickettoken.gateway.server import TrustedProxyHeaders
from tickettoken.gateway.upstream_client import (
    UpstreamClient,
    UpstreamConnectError,
    UpstreamDisconnected,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server; yields its base URL and a list that counts accepted connections."""
    accepted: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request with Content-Length or chunked framing."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return head, body
            body += chunk[:-2]
    length = 0
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            head, body = await read_request(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        answer = head.split(b"\r\n")[0] + b"|" + body
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
        await writer.drain()


async def test_keep_alive_reuses_one_connection_and_keeps_path_and_body_bytes() -> None:
    client = UpstreamClient()
    async with raw_server(echo_forever) as (url, accepted):
        for _ in range(3):
            response = await client.request(
                "POST", url, "/a%2Fb/c%20d?x=%20y", [(b"x-a", b"1")], b"\x00\xffbody"
            )
            assert response.status == 200
            assert await response.read() == b"POST /a%2Fb/c%20d?x=%20y HTTP/1.1|\x00\xffbody"
            await response.release()
        assert len(accepted) == 1
    await client.close()


async def test_a_streamed_body_without_length_goes_chunked_and_arrives_whole() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    client = UpstreamClient()
    async with raw_server(echo_forever) as (url, _):
        response = await client.request("PUT", url, "/x", [], parts())
        assert (await response.read()).endswith(b"|one,two,three")
        await response.release()
    await client.close()


async def test_a_chunked_answer_streams_and_connection_close_is_not_reused() -> None:
    async def chunked_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
            b"X-Multi: a\r\nX-Multi: b\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        await writer.drain()

    client = UpstreamClient()
    async with raw_server(chunked_then_close) as (url, accepted):
        for _ in range(2):
            response = await client.request("GET", url, "/", [])
            assert response.status == 201
            assert [v for k, v in response.raw_headers() if k.lower() == b"x-multi"] == [b"a", b"b"]
            assert b"".join([chunk async for chunk in response.chunks()]) == b"hello world"
            await response.release()
        assert len(accepted) == 2
    await client.close()


async def test_head_answers_end_with_their_headers_despite_a_content_length() -> None:
    async def head_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    client = UpstreamClient()
    async with raw_server(head_answer) as (url, _):
        async with asyncio.timeout(2):
            response = await client.request("HEAD", url, "/", [])
            assert response.status == 200
            assert await response.read() == b""
            await response.release()
    await client.close()


async def test_an_informational_answer_is_skipped() -> None:
    async def continue_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    client = UpstreamClient()
    async with raw_server(continue_first) as (url, _):
        status, body = await client.fetch("GET", url + "/", [])
        assert (status, body) == (200, b"ok")
    await client.close()


async def test_refused_and_dropped_connections_are_told_apart() -> None:
    client = UpstreamClient()
    async with raw_server(echo_forever) as (url, _):
        pass  # closed again: nothing listens there now
    with pytest.raises(UpstreamConnectError):
        await client.request("GET", url, "/", [])

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()

    async with raw_server(drop) as (dropping, _):
        response = await client.request("GET", dropping, "/", [])
        with pytest.raises(UpstreamDisconnected):
            await response.read()
        await response.release()
    await client.close()


async def test_a_connection_the_service_closed_while_idle_is_not_reused() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()  # and the server closes this keep-alive connection

    client = UpstreamClient()
    async with raw_server(one_then_close) as (url, accepted):
        assert await client.fetch("GET", url + "/", []) == (200, b"ok")
        await asyncio.sleep(0.1)
        assert await client.fetch("GET", url + "/", []) == (200, b"ok")
        assert len(accepted) == 2
    await client.close()


async def test_trusted_proxy_headers_take_the_client_from_a_trusted_peer_only() -> None:
    seen: list[tuple[str, int] | None] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen.append(scope["client"])

    front = TrustedProxyHeaders(app, "127.0.0.1,10.0.0.0/8")
    forwarded = [(b"x-forwarded-for", b"203.0.113.7, 10.1.2.3")]
    for peer in ("127.0.0.1", "198.51.100.1"):
        scope = {"type": "http", "client": (peer, 1234), "headers": forwarded}
        await front(scope, None, None)  # type: ignore[arg-type]
    assert seen == [("203.0.113.7", 0), ("198.51.100.1", 1234)]
