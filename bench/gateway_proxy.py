"""The gateway against nginx proxying the same upstream, in one run (issue 11's acceptance).

One upstream (plain ASGI, 64-byte answers, ``bench/gateway_clients.py``); in front of it the
gateway (``tickettoken serve gateway``: granian by default, or uvicorn; edge auth and the
in-process rate limiter on: every request carries an admin token), the best bare proxy of
``bench/gateway_clients.py`` (the gateway's own client under granian, none of the gateway's
features: the ceiling for a Python proxy here) and nginx (Debian's package, one worker,
keep-alive to the upstream). ``wrk`` drives 64 keep-alive connections against each in
alternating rounds; the medians are printed with CPU time per request (each server's processes,
all threads and workers) and the two targets: gateway throughput at least 0.5x nginx's, and at
most 1 ms added p50 latency (gateway p50 minus direct p50).

Two kinds of rounds, because one closed loop cannot read both targets. Throughput is read at
saturation: every connection sends its next request as soon as the answer arrives. But at
saturation 64 busy connections keep about 64 requests queued, so p50 is about 64 / throughput,
whatever the proxy adds to one request. Added latency is read again at a fixed offered rate
below every ceiling (``--paced-rate``, default 1,000 requests/s in all: a sixth of the
gateway's saturated rate on this machine when it is quiet, under half when other work loads
it): the same 64 connections, each waiting an exponentially distributed pause (mean 64 / rate
seconds, wrk's Lua ``delay``) before its next request, so requests arrive about as a Poisson
stream at that rate instead of in lock-step bursts. wrk times each request from its send, so
these p50/p99 are the proxy's service time at that load. Each pause begins when the previous
answer arrived, so a row achieves a few per cent less than offered; one under 90 % is flagged:
that proxy was saturated after all.
Both tables are printed (``docs/decisions/gateway.md``).

    apt-get install -y nginx-light wrk
    .venv/bin/python bench/gateway_proxy.py [--seconds 5] [--rounds 3] [--connections 64]
        [--gateways granian:1,granian:2,uvicorn:1]  (SERVER:WORKERS[:ENV=VALUE...], one each)
        [--proxies own:granian:2]                    (bare proxies, as in gateway_clients.py)
        [--paced-rate 1000]                          (requests/s in all; 0: no paced rounds)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gateway_clients import (
    Row,
    free_port,
    measure_rounds,
    medians,
    start,
    start_gateway,
    start_proxy,
    stop_all,
    wait_for_port,
)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


# Each connection pauses an exponentially distributed time before each request (whole ms, as wrk
# takes them), mean MEAN_MS; every wrk thread seeds its own generator.
PACED_SCRIPT = """
local mean = {mean_ms}
function init(args)
    math.randomseed(tonumber(tostring({{}}):match("0x%x+")) or os.time())
end
function delay()
    return math.floor(-mean * math.log(1 - math.random()) + 0.5)
end
"""


def paced_script(root: Path, rate: float, connections: int) -> str:
    """A wrk script offering about ``rate`` requests/s over ``connections`` connections."""
    script = root / "paced.lua"
    script.write_text(PACED_SCRIPT.format(mean_ms=f"{1000.0 * connections / rate:.3f}"))
    return str(script)


def start_nginx(root: Path, upstream_port: int, port: int) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, upstream=upstream_port, port=port))
    process = subprocess.Popen([nginx, "-p", str(root), "-c", str(conf), "-e", "stderr"])
    wait_for_port(port, process)
    return process


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--gateways", default="granian:1,granian:2")
    parser.add_argument("--proxies", default="own:granian:2")
    parser.add_argument("--paced-rate", type=float, default=1000.0)
    return parser.parse_args()


def print_table(
    title: str, results: dict[str, Row], nginx: Row, direct: Row, offered: float | None = None
) -> None:
    print(f"\n{title}")
    width = max(26, *(len(name) for name in results))
    print(
        f"{'path':{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} "
        f"{'vs nginx':>9} {'added p50':>10} {'added p99':>10}"
    )
    for name, (rps, p50, p99, cpu_us) in results.items():
        share = f"{rps / nginx[0]:8.2f}x" if offered is None else f"{rps / offered:8.2f}o"
        saturated = offered is not None and rps < 0.9 * offered
        print(
            f"{name:{width}} {rps:9.0f} {p50:8.2f} {p99:8.2f} {cpu_us:11.0f} "
            f"{share} {p50 - direct[1]:10.2f} {p99 - direct[2]:10.2f}"
            + ("  (below the offered rate: saturated)" if saturated else "")
        )


def main() -> None:
    opts = options()
    upstream_port, nginx_port = free_port(), free_port()
    processes = [start(["serve-upstream"], upstream_port)]
    upstream = f"http://127.0.0.1:{upstream_port}"
    path = "/api/v1/events"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tt-nginx-") as tmp:
        try:
            targets = {"upstream direct": (upstream + path, processes[0].pid)}
            for spec in filter(None, opts.proxies.split(",")):
                name, process, port = start_proxy(spec, upstream)
                processes.append(process)
                targets[name] = (f"http://127.0.0.1:{port}{path}", process.pid)
            for spec in filter(None, opts.gateways.split(",")):
                server, workers, *settings = spec.split(":")
                port = free_port()
                env = {"GATEWAY_SERVER": server} | dict(kv.split("=", 1) for kv in settings)
                processes.append(start_gateway(upstream, port, int(workers), env))
                label = " ".join(kv.split("=", 1)[1] for kv in settings)
                targets[f"gateway {server} {workers}w {label}".strip()] = (
                    f"http://127.0.0.1:{port}{path}",
                    processes[-1].pid,
                )
            processes.append(start_nginx(Path(tmp), upstream_port, nginx_port))
            targets["nginx 1 worker"] = (f"http://127.0.0.1:{nginx_port}{path}", processes[-1].pid)
            results = medians(measure_rounds(targets, opts))
            paced: dict[str, Row] = {}
            if opts.paced_rate > 0:
                script = paced_script(Path(tmp), opts.paced_rate, opts.connections)
                print(f"paced rounds: {opts.paced_rate:.0f} requests/s offered")
                paced = medians(measure_rounds(targets, opts, script, warm_up=False))
        finally:
            stop_all(processes)

    load_after = os.getloadavg()
    print(f"\n{opts.connections} connections, medians of {opts.rounds} rounds of {opts.seconds} s")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    nginx, direct = results["nginx 1 worker"], results["upstream direct"]
    print_table("saturated (closed loop: p50 is mostly queueing)", results, nginx, direct)
    if paced:
        print_table(
            f"paced: {opts.paced_rate:.0f} requests/s offered (o: share of it achieved)",
            paced,
            paced["nginx 1 worker"],
            paced["upstream direct"],
            opts.paced_rate,
        )
    print(
        "\ntargets: >= 0.50x nginx's req/s (saturated) and <= 1 ms added p50 at 64 connections "
        "(paced; the saturated added p50 is printed too)"
    )


if __name__ == "__main__":
    main()
