"""The compose file runs two instances of each service and two gateways behind one port (issue
11, Deliver 9). No Docker daemon runs here, so the file is checked for that shape and the edge
proxy's configuration by nginx itself (when installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, dict[str, object]]:
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services: dict[str, dict[str, object]] = document["services"]
    return services


def test_two_of_each_service_and_gateway_behind_one_port() -> None:
    services = compose()
    for name in ("event", "integration", "queue", "gateway"):
        assert services[name]["deploy"] == {"replicas": 2}, name
        assert "ports" not in services[name], f"{name} must not publish a port of its own"
    assert services["edge"]["ports"] == ["3000:3000"]
    published = [name for name, spec in services.items() if "ports" in spec]
    assert published == ["edge"]


def test_the_gateways_find_instances_through_redis() -> None:
    gateway = compose()["gateway"]
    environment = gateway["environment"]
    assert isinstance(environment, dict)
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    for name in ("EVENT", "INTEGRATION", "QUEUE"):
        assert environment[f"{name}_SERVICE_URL"] == ""
    for name in ("event", "integration", "queue"):
        command = compose()[name]["command"]
        assert isinstance(command, list)
        assert command[:2] == ["serve", name] and "0.0.0.0" in command


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_the_edge_configuration_is_valid_nginx(tmp_path: Path) -> None:
    # Outside compose the name `gateway` does not resolve; the rest is checked as it is.
    text = (DEPLOY / "edge-nginx.conf").read_text().replace("gateway:3000", "127.0.0.1:3000")
    conf = tmp_path / "nginx.conf"
    conf.write_text(text.replace("events {", f"pid {tmp_path}/nginx.pid;\nevents {{"))
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
