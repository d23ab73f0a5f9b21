"""The Pinecone simulator's test kit: the vendor's OpenAPI documents (API 2025-10) as JSON
schemas, a sandbox with the simulator, an index on it, and request helpers. Shared by the
simulator's own tests and the store's update tests."""

from __future__ import annotations

import jsonschema
import pytest
import requests
import yaml

from sandbox.pinecone import PineconeSimulator
from sandbox.server import Sandbox

TOKEN = "sandbox-token"
V2025 = {"Api-Key": TOKEN, "X-Pinecone-Api-Version": "2025-10"}
DIM = 4


# --- specs ---------------------------------------------------------------------------------------


def _openapi_30_to_json_schema(node):
    """OpenAPI 3.0 ``nullable`` into JSON Schema; its misplaced ``required: [..]`` inside
    property schemas (Pinecone's documents have a few) are dropped, as OpenAPI tools ignore them."""
    if isinstance(node, list):
        return [_openapi_30_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_30_to_json_schema(value) for key, value in node.items()}
    if out.get("type") in ("string", "array", "integer", "number", "boolean") and isinstance(out.get("required"), list):
        del out["required"]
    if out.pop("nullable", False):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _load(vendor_dir, name: str) -> dict:
    raw = yaml.safe_load((vendor_dir / "pinecone" / name).read_text())
    return {"paths": raw["paths"], "components": _openapi_30_to_json_schema(raw["components"])}


@pytest.fixture(scope="module")
def data_spec(vendor_dir):
    return _load(vendor_dir, "db_data_2025-10.oas.yaml")


@pytest.fixture(scope="module")
def control_spec(vendor_dir):
    return _load(vendor_dir, "db_control_2025-10.oas.yaml")


def schema_of(spec, path: str, method: str, status: str) -> jsonschema.Draft7Validator:
    content = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return jsonschema.Draft7Validator({**_openapi_30_to_json_schema(content), "components": spec["components"]})


def component(spec, name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def assert_valid(validator, body) -> None:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture()
def box(workspace):
    with Sandbox([PineconeSimulator(workspace)]) as sandbox:
        yield sandbox


@pytest.fixture()
def sim(box) -> PineconeSimulator:
    return box.simulator("pinecone")


@pytest.fixture()
def host(sim) -> str:
    response = requests.post(
        f"{sim.control_url}/indexes",
        headers=V2025,
        timeout=10,
        json={"name": "vs", "dimension": DIM, "metric": "cosine", "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}},
    )
    assert response.status_code == 201, response.text
    return response.json()["host"]


def call(host: str, method: str, path: str, headers=None, **kwargs) -> requests.Response:
    return requests.request(method, f"{host}{path}", headers=headers or V2025, timeout=30, **kwargs)


def upsert(host, vectors, namespace="", **kwargs):
    return call(host, "POST", "/vectors/upsert", json={"vectors": vectors, "namespace": namespace}, **kwargs)


def assert_rpc_error(response: requests.Response, status: int, data_spec, fragment: str = "") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert_valid(component(data_spec, "rpcStatus"), body)
    assert body["code"] == {400: 3, 401: 16, 404: 5, 429: 8}[status] and body["details"] == []
    assert fragment in body["message"]
    return body["message"]
