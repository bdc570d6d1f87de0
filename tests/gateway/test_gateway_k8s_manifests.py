"""deploy/k8s checked against the Kubernetes API models (no cluster runs here): every document
deserialises into its model and serialises back unchanged (a misspelt or misplaced field is lost
on the way, so the comparison fails), and the wiring the deployment depends on holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
MODELS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("batch/v1", "Job"): "V1Job",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
}


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path.name, document))
    return found


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "document"), documents())
def test_every_manifest_is_a_valid_kubernetes_object(name: str, document: dict[str, Any]) -> None:
    model = MODELS.get((document["apiVersion"], document["kind"]))
    assert model, f"{name}: unexpected {document['apiVersion']} {document['kind']}"
    api = client.ApiClient()
    parsed = api._ApiClient__deserialize(document, model)  # type: ignore[attr-defined]
    assert _normalised(api.sanitize_for_serialization(parsed)) == _normalised(document), name


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == kind}


def test_services_run_with_probes_budgets_and_their_config() -> None:
    deployments = by_kind("Deployment")
    assert {"gateway", "event", "integration", "queue", "worker"} <= set(deployments)
    budgets = by_kind("PodDisruptionBudget")
    services = by_kind("Service")
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        assert spec["replicas"] >= 2, name
        container = spec["template"]["spec"]["containers"][0]
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {"tickettoken-config", "tickettoken-secrets"}, name
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        if name == "worker":
            continue
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
        assert services[name]["spec"]["selector"].items() <= labels.items(), name


def test_the_gateway_and_event_service_autoscale_and_migrations_run_as_a_job() -> None:
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind("HorizontalPodAutoscaler").values()
    }
    assert scaled == {"gateway", "event"}
    job = by_kind("Job")["tickettoken-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
