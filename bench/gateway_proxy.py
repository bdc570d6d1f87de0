"""The gateway against nginx proxying the same upstream, in one run (issue 11's acceptance).

One upstream (plain ASGI, 64-byte answers, ``bench/gateway_clients.py``); in front of it the
gateway (``tickettoken serve gateway``, one process, edge auth and the in-process rate limiter on:
every request carries an admin token) and nginx (Debian's package, one worker, keep-alive to the
upstream). ``wrk`` drives 64 keep-alive connections against the upstream directly, the gateway and
nginx in alternating rounds; the medians are printed with the two targets: gateway throughput at
least 0.5x nginx's, and at most 1 ms added p50 latency (gateway p50 minus direct p50).

    apt-get install -y nginx-light wrk
    .venv/bin/python bench/gateway_proxy.py [--seconds 5] [--rounds 3] [--connections 64]
        [--gateway-workers 1,2]   (one gateway per worker count, all measured in the same rounds)
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gateway_clients import (
    bench_options,
    free_port,
    measure_rounds,
    start,
    start_gateway,
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


def main() -> None:
    options = bench_options()
    upstream_port, nginx_port = free_port(), free_port()
    worker_counts = [int(count) for count in options.gateway_workers.split(",")]
    processes = [start(["serve-upstream"], upstream_port)]
    with tempfile.TemporaryDirectory(prefix="tt-nginx-") as tmp:
        try:
            targets = {"direct": f"http://127.0.0.1:{upstream_port}/api/v1/events"}
            for workers in worker_counts:
                port = free_port()
                upstream = f"http://127.0.0.1:{upstream_port}"
                processes.append(start_gateway(upstream, port, workers))
                targets[f"gateway-{workers}w"] = f"http://127.0.0.1:{port}/api/v1/events"
            processes.append(start_nginx(Path(tmp), upstream_port, nginx_port))
            targets["nginx"] = f"http://127.0.0.1:{nginx_port}/api/v1/events"
            rows = measure_rounds(targets, options)
        finally:
            stop_all(processes)

    medians = {
        name: tuple(statistics.median(r[i] for r in runs) for i in range(3))
        for name, runs in rows.items()
    }
    print(f"\n{options.connections} connections, medians of {options.rounds} rounds")
    print(f"{'path':12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (rps, p50, p99) in medians.items():
        print(f"{name:12} {rps:9.0f} {p50:8.2f} {p99:8.2f}")
    print()
    for name in (name for name in medians if name.startswith("gateway")):
        ratio = medians[name][0] / medians["nginx"][0]
        added = medians[name][1] - medians["direct"][1]
        print(f"{name}: {ratio:.2f}x nginx's req/s (target >= 0.5), ", end="")
        print(f"added p50 {added:.2f} ms (target <= 1 ms)")


if __name__ == "__main__":
    main()
