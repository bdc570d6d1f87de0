"""The JSON schema of each job type's data, as exact as the payload models that validate it.

Routes that take job data (the queue service's ``POST /jobs``) document it with these, so a
client generated from the OpenAPI, and a fuzzer, send data the model accepts. Two things the
model checks in code are spelled out here: a templated message's ``data`` holds exactly the
template's slots (one variant per template), and nested models are inlined (the schema of one
field must not point into another document's ``$defs``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from tickettoken.kit.jobs.payloads import PAYLOADS, TemplatedMessage
from tickettoken.kit.jobs.templates import MAX_VALUE_LENGTH, TEMPLATES

_TEMPLATE_VALUE: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": "^[^\\x00-\\x1f\\x7f]*$"},
        {"type": "integer"},
    ]
}


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def _templated(schema: dict[str, Any]) -> dict[str, Any]:
    """One variant per template: ``template`` fixed, ``data`` exactly its slots."""
    variants = []
    for name, template in TEMPLATES.items():
        properties = dict(schema["properties"])
        properties["template"] = {"const": name, "type": "string"}
        properties["data"] = {
            "type": "object",
            "properties": {slot: _TEMPLATE_VALUE for slot in sorted(template.variables)},
            "required": sorted(template.variables),
            "additionalProperties": False,
        }
        required = sorted({*schema.get("required", []), "template", "data"})
        variants.append({**schema, "properties": properties, "required": required})
    return {"oneOf": variants}


@cache
def payload_schema(job_type: str) -> dict[str, Any]:
    """The JSON schema (no ``$ref``) of the data a job of ``job_type`` takes."""
    model = PAYLOADS[job_type]
    schema = model.model_json_schema(mode="validation")
    inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    inlined.pop("title", None)
    if issubclass(model, TemplatedMessage):
        return _templated(inlined)
    return inlined
