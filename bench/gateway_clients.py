"""Which pooled HTTP client should carry the gateway's proxy hot path? Measured, one run.

A minimal streaming reverse proxy (plain ASGI under uvicorn with uvloop and httptools, one
worker) is written once per candidate client; each forwards every request to the same local
upstream (plain ASGI, 64-byte body). ``wrk`` drives 64 keep-alive connections against each proxy
and against the upstream directly, alternating rounds; medians of requests/s and p50/p99 are
printed. Candidates installed in the project venv: ``httpx`` (AsyncClient, pooled) and
``aiohttp`` (ClientSession, pooled). The last row is the gateway itself (``tickettoken serve
gateway``, one process, edge auth on: every request carries an admin token).

    .venv/bin/python bench/gateway_clients.py [--seconds 5] [--rounds 3] [--connections 64]

The same file is the upstream and the proxies (``serve-upstream`` / ``serve-proxy CLIENT``) so
every server is a separate process started with the same interpreter.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

BODY = b"x" * 64
CLIENTS = ("httpx", "aiohttp")


async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"64")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def httpx_proxy(target: str) -> Any:
    import httpx

    client = httpx.AsyncClient(
        base_url=target, limits=httpx.Limits(max_connections=256, max_keepalive_connections=256)
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = client.build_request(scope["method"], scope["path"])
        response = await client.send(request, stream=True)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": list(response.headers.raw),
            }
        )
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await response.aclose()
        await send({"type": "http.response.body", "body": b""})

    return app


def aiohttp_proxy(target: str) -> Any:
    import aiohttp

    holder: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        session = holder.get("s")
        if session is None:
            session = holder["s"] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), auto_decompress=False
            )
        async with session.request(scope["method"], target + scope["path"]) as response:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(k, v) for k, v in response.raw_headers],
                }
            )
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"nothing listens on port {port}")


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, *args, str(port)])
    wait_for_port(port, process)
    return process


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def start_gateway(upstream_url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "EVENT_SERVICE_URL": upstream_url,
            "JWT_SECRET": SECRET,
            "LOG_LEVEL": "WARNING",
            "ENVIRONMENT": "development",
            "RATE_LIMIT_MAX_REQUESTS": "100000000",
        }
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "serve",
            "gateway",
            *("--port", str(port)),
            *("--workers", str(workers)),
        ],
        env=env,
    )
    wait_for_port(port, process)
    return process


CLI = "from tickettoken.cli import main; main()"
SECRET = "bench-only-secret-" + "x" * 32


def admin_token() -> str:
    from tickettoken.kit.auth import mint_token
    from tickettoken.kit.settings import Settings

    settings = Settings(_env_file=None, jwt_secret=SECRET)  # type: ignore[call-arg]
    return mint_token(role="admin", settings=settings, lifetime_seconds=3600)


AUTH = f"Authorization: Bearer {admin_token()}"


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """requests/s, p50 ms, p99 ms."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", AUTH, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(name: str) -> float:
        match = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        return float(match.group(1)) * _UNITS[match.group(2)]

    if "Non-2xx" in out or "Socket errors" in out:
        print(f"  warning from wrk for {url}:\n{out}")
    return rps, percentile("50"), percentile("99")


def bench_options() -> argparse.Namespace:
    """The options every gateway bench takes: round length, round count, wrk connections."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--gateway-workers",
        default="1",
        help="comma-separated worker counts; one gateway per count (e.g. 1,2)",
    )
    return parser.parse_args()


def measure_rounds(
    targets: dict[str, str], options: argparse.Namespace
) -> dict[str, list[tuple[float, float, float]]]:
    """One warm-up per target, then alternating wrk rounds; each round's result as it comes."""
    for url in targets.values():
        wrk(url, 1, options.connections)  # warm-up
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in targets}
    for round_number in range(options.rounds):
        for name, url in targets.items():
            results[name].append(wrk(url, options.seconds, options.connections))
            rps, p50, _ = results[name][-1]
            print(f"round {round_number + 1} {name:12} {rps:9.0f} req/s p50 {p50:.2f} ms")
    return results


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=10)


def main() -> None:
    options = bench_options()
    upstream_port = free_port()
    processes = [start(["serve-upstream"], upstream_port)]
    targets = {"direct": f"http://127.0.0.1:{upstream_port}/"}
    try:
        for client in CLIENTS:
            port = free_port()
            processes.append(
                start(["serve-proxy", client, f"http://127.0.0.1:{upstream_port}"], port)
            )
            targets[client] = f"http://127.0.0.1:{port}/"
        port = free_port()
        processes.append(start_gateway(f"http://127.0.0.1:{upstream_port}", port))
        targets["gateway"] = f"http://127.0.0.1:{port}/api/v1/events"
        results = measure_rounds(targets, options)
        print(f"\n{options.connections} connections, medians of {options.rounds} rounds")
        print(f"{'path':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for name, rows in results.items():
            rps = statistics.median(r[0] for r in rows)
            p50 = statistics.median(r[1] for r in rows)
            p99 = statistics.median(r[2] for r in rows)
            print(f"{name:10} {rps:9.0f} {p50:8.2f} {p99:8.2f}")
    finally:
        stop_all(processes)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-upstream":
        serve(upstream, int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "serve-proxy":
        factory = {"httpx": httpx_proxy, "aiohttp": aiohttp_proxy}[sys.argv[2]]
        serve(factory(sys.argv[3]), int(sys.argv[4]))
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        main()
