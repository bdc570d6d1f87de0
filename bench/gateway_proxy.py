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

    apt-get install -y nginx-light wrk
    .venv/bin/python bench/gateway_proxy.py [--seconds 5] [--rounds 3] [--connections 64]
        [--gateways granian:1,granian:2,uvicorn:1]  (SERVER:WORKERS[:ENV=VALUE...], one each)
        [--proxies own:granian:2]                    (bare proxies, as in gateway_clients.py)
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
    return parser.parse_args()


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
        finally:
            stop_all(processes)

    load_after = os.getloadavg()
    print(f"\n{opts.connections} connections, medians of {opts.rounds} rounds of {opts.seconds} s")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    nginx = results["nginx 1 worker"]
    direct = results["upstream direct"]
    print(
        f"{'path':26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} "
        f"{'vs nginx':>9} {'added p50':>10}"
    )
    for name, (rps, p50, p99, cpu_us) in results.items():
        print(
            f"{name:26} {rps:9.0f} {p50:8.2f} {p99:8.2f} {cpu_us:11.0f} "
            f"{rps / nginx[0]:8.2f}x {p50 - direct[1]:9.2f}"
        )
    print("\ntargets: >= 0.50x nginx's req/s and <= 1 ms added p50 (64 connections)")


if __name__ == "__main__":
    main()
