"""Which pooled HTTP client and which server should carry the gateway's proxy hot path? One run.

A minimal streaming reverse proxy is written once per candidate client; each forwards every
request to the same local upstream (plain ASGI, 64-byte body). Clients: ``httpx`` (AsyncClient),
``aiohttp`` (ClientSession, tuned: no auto headers or decompression), ``pyreqwest`` (Rust's
reqwest, streamed answers) and ``own`` (the gateway's ``UpstreamClient``: httptools on the event
loop). Servers: ``uvicorn`` (uvloop, httptools) and ``granian`` (ASGI, uvloop), with N worker
processes. ``wrk`` drives 64 keep-alive connections against each proxy and the upstream directly,
alternating rounds; medians of requests/s, p50/p99 and the CPU time each server's processes
used per request (all threads and workers, from /proc) are printed. The last row is the gateway
itself (``tickettoken serve gateway``, edge auth on: every request carries an admin token).

    .venv/bin/python bench/gateway_clients.py [--seconds 5] [--rounds 3] [--connections 64]
        [--proxies own:granian:1,aiohttp:uvicorn:1,...]

The same file is the upstream and the proxies (``serve-upstream`` / ``serve-proxy CLIENT URL
PORT SERVER WORKERS``) so every server is a separate process started with the same interpreter.
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
DEFAULT_PROXIES = (
    "httpx:uvicorn:1,aiohttp:uvicorn:1,pyreqwest:granian:1,own:uvicorn:1,own:granian:1"
)


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
    from yarl import URL

    holder: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        session = holder.get("s")
        if session is None:
            session = holder["s"] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1024, limit_per_host=0, keepalive_timeout=30),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        url = URL(target + scope["path"], encoded=True)
        async with session.request(scope["method"], url, allow_redirects=False) as response:
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


def pyreqwest_proxy(target: str) -> Any:
    from pyreqwest.client import Client, ClientBuilder

    holder: dict[str, Client] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        client = holder.get("c")
        if client is None:
            builder = ClientBuilder().gzip(False).brotli(False).zstd(False).deflate(False)
            client = holder["c"] = builder.follow_redirects(False).no_proxy().build()
        request = client.request(scope["method"], target + scope["path"]).build_streamed()
        async with request as response:
            headers = [(k.encode(), v.encode()) for k, v in response.headers.items()]
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            reader = response.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                await send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def own_proxy(target: str) -> Any:
    """The gateway's own client (``tickettoken.gateway.upstream_client``), nothing else."""
    from tickettoken.gateway.upstream_client import UpstreamClient

    client = UpstreamClient()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await client.request(scope["method"], target, scope["path"], [])
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response.raw_headers(),
                }
            )
            whole = response.whole_body()
            if whole is not None:
                await send({"type": "http.response.body", "body": whole})
                return
            async for chunk in response.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.release()

    return app


FACTORIES = {
    "httpx": httpx_proxy,
    "aiohttp": aiohttp_proxy,
    "pyreqwest": pyreqwest_proxy,
    "own": own_proxy,
}


def granian_app() -> Any:
    """granian's factory for a proxy: the client and target come from the environment."""
    return FACTORIES[os.environ["BENCH_PROXY_CLIENT"]](os.environ["BENCH_PROXY_TARGET"])


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


def serve_granian(client: str, target: str, port: int, workers: int) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    os.environ.update({"BENCH_PROXY_CLIENT": client, "BENCH_PROXY_TARGET": target})
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    Server(
        "gateway_clients:granian_app",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels.warning,
        factory=True,
    ).serve()


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


def start(args: list[str], port: int, append_port: bool = True) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, *args, *([str(port)] * append_port)])
    wait_for_port(port, process)
    return process


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def start_gateway(
    upstream_url: str, port: int, workers: int = 1, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ) | (extra_env or {})
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


_TICK = os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    stat = file.read()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its threads and its children (workers), from /proc."""
    total = 0
    for member in _process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def wrk(
    url: str, seconds: int, connections: int, script: str | None = None
) -> tuple[float, float, float]:
    """requests/s, p50 ms, p99 ms. ``script``: a wrk Lua script file (e.g. a paced ``delay``)."""
    threads = f"-t{min(2, connections)}"
    command = ["wrk", threads, f"-c{connections}", f"-d{seconds}s", "--latency", "-H", AUTH]
    if script:
        command += ["-s", script]
    out = subprocess.run(
        [*command, url],
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


Row = tuple[float, float, float, float]  # req/s, p50 ms, p99 ms, CPU us per request


def bench_options(default_proxies: str = "") -> argparse.Namespace:
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
    parser.add_argument(
        "--proxies",
        default=default_proxies,
        help="comma-separated bare proxies CLIENT:SERVER:WORKERS (client httpx, aiohttp, "
        "pyreqwest or own; server uvicorn or granian)",
    )
    return parser.parse_args()


def measure_rounds(
    targets: dict[str, tuple[str, int]],
    options: argparse.Namespace,
    script: str | None = None,
    warm_up: bool = True,
) -> dict[str, list[Row]]:
    """One warm-up per target, then alternating wrk rounds; each round's result as it comes.
    ``targets``: name -> (URL, pid of the serving process); ``script``: passed to wrk."""
    if warm_up:
        for url, _ in targets.values():
            wrk(url, 1, options.connections)
    results: dict[str, list[Row]] = {name: [] for name in targets}
    for round_number in range(options.rounds):
        for name, (url, pid) in targets.items():
            before = cpu_seconds(pid)
            rps, p50, p99 = wrk(url, options.seconds, options.connections, script)
            cpu_us = 1e6 * (cpu_seconds(pid) - before) / max(1.0, rps * options.seconds)
            results[name].append((rps, p50, p99, cpu_us))
            print(
                f"round {round_number + 1} {name:24} {rps:9.0f} req/s p50 {p50:6.2f} ms "
                f"cpu {cpu_us:5.0f} us/req"
            )
    return results


def medians(rows: dict[str, list[Row]]) -> dict[str, Row]:
    return {
        name: tuple(statistics.median(r[i] for r in runs) for i in range(4))  # type: ignore[misc]
        for name, runs in rows.items()
    }


def start_proxy(spec: str, upstream_url: str) -> tuple[str, subprocess.Popen[bytes], int]:
    """A bare proxy from ``CLIENT:SERVER:WORKERS``: (name, process, port)."""
    client, server, workers = [*spec.split(":"), "uvicorn", "1"][:3]
    port = free_port()
    process = start(["serve-proxy", client, upstream_url, str(port), server, workers], port, False)
    return f"bare {client}/{server} {workers}w", process, port


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=10)


def main() -> None:
    options = bench_options(DEFAULT_PROXIES)
    upstream_port = free_port()
    processes = [start(["serve-upstream"], upstream_port)]
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    targets = {"upstream direct": (upstream_url + "/", processes[0].pid)}
    try:
        for spec in filter(None, options.proxies.split(",")):
            name, process, port = start_proxy(spec, upstream_url)
            processes.append(process)
            targets[name] = (f"http://127.0.0.1:{port}/", process.pid)
        for workers in [int(count) for count in options.gateway_workers.split(",")]:
            port = free_port()
            processes.append(start_gateway(upstream_url, port, workers))
            targets[f"gateway {workers}w"] = (
                f"http://127.0.0.1:{port}/api/v1/events",
                processes[-1].pid,
            )
        results = medians(measure_rounds(targets, options))
    finally:
        stop_all(processes)
    print(f"\n{options.connections} connections, medians of {options.rounds} rounds")
    print(f"load average after the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'path':24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}")
    for name, (rps, p50, p99, cpu_us) in results.items():
        print(f"{name:24} {rps:9.0f} {p50:8.2f} {p99:8.2f} {cpu_us:11.0f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-upstream":
        serve(upstream, int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "serve-proxy":
        client, target, port, server, workers = sys.argv[2:7]
        if server == "granian":
            serve_granian(client, target, int(port), int(workers))
        else:
            serve(FACTORIES[client](target), int(port))
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        main()
