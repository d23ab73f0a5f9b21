"""The Pinecone simulator against Pinecone's OpenAPI documents (API 2025-10) and api-facts.md.

Drift: every data-plane answer the store relies on (upsert, query, fetch, list,
describe_index_stats, delete, errors) and the control plane's describe/list/create answers in
the 2025-10 dialect are validated against ``vendor/pinecone/db_{data,control}_2025-10.oas.yaml``.
The 2026-07 control-plane dialect (what pinecone 10.x sends) has no vendor document here: the
SDK parsing it is the check.
"""

from __future__ import annotations

import json

import pytest
import requests
from pinecone import Pinecone, ServerlessSpec

from sandbox.pinecone import (
    MAX_METADATA_BYTES,
    MAX_REQUEST_BYTES,
    BadRequest,
    compile_filter,
)
from sandbox.server import RateLimiter
from tests.pineconekit import (  # noqa: F401 - fixtures among them
    DIM,
    TOKEN,
    V2025,
    _load,
    _openapi_30_to_json_schema,
    assert_rpc_error,
    assert_valid,
    box,
    call,
    component,
    control_spec,
    data_spec,
    host,
    schema_of,
    sim,
    upsert,
)

# --- control plane -------------------------------------------------------------------------------


def test_control_plane_2025_10_matches_the_document(sim, host, control_spec):
    request = {"name": "vs", "dimension": DIM, "metric": "cosine", "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}}
    assert_valid(component(control_spec, "CreateIndexRequest"), request)
    described = requests.get(f"{sim.control_url}/indexes/vs", headers=V2025, timeout=10)
    assert described.status_code == 200
    assert_valid(schema_of(control_spec, "/indexes/{index_name}", "get", "200"), described.json())
    assert described.json()["status"] == {"ready": True, "state": "Ready"}
    assert described.json()["host"] == host == f"{sim.control_url}/data/vs"
    listed = requests.get(f"{sim.control_url}/indexes", headers=V2025, timeout=10)
    assert_valid(schema_of(control_spec, "/indexes", "get", "200"), listed.json())
    assert [i["name"] for i in listed.json()["indexes"]] == ["vs"]

    again = requests.post(f"{sim.control_url}/indexes", headers=V2025, json=request, timeout=10)
    assert again.status_code == 409
    missing = requests.get(f"{sim.control_url}/indexes/nope", headers=V2025, timeout=10)
    unauthorized = requests.get(f"{sim.control_url}/indexes", headers={**V2025, "Api-Key": "wrong"}, timeout=10)
    for response, status in ((again, 409), (missing, 404), (unauthorized, 401)):
        assert_valid(
            schema_of(control_spec, "/indexes", "post", str(status)) if status == 409 else component(control_spec, "ErrorResponse"),
            response.json(),
        )
        assert response.json()["status"] == status

    deleted = requests.delete(f"{sim.control_url}/indexes/vs", headers=V2025, timeout=10)
    assert deleted.status_code == 202 and "vs" not in sim.indexes


def test_sdk_10_speaks_the_2026_07_dialect(sim):
    pc = Pinecone(api_key=TOKEN, host=sim.control_url)
    model = pc.create_index(name="sdk", dimension=8, metric="dotproduct", spec=ServerlessSpec(cloud="gcp", region="europe-west4"))
    assert model.status.ready and model.host == sim.index_host("sdk")
    described = pc.describe_index("sdk")
    assert described.schema.fields["_values"].dimension == 8
    assert (described.deployment.cloud, described.deployment.region) == ("gcp", "europe-west4")
    assert pc.has_index("sdk") and not pc.has_index("other")
    assert [i.name for i in pc.list_indexes()] == ["sdk"]
    index = pc.Index("sdk")  # resolves the host through describe, as PineconeHook users do
    assert index.upsert(vectors=[("a", [1.0] * 8)]).upserted_count == 1
    pc.delete_index("sdk")
    assert not pc.has_index("sdk")


V2026 = {"Api-Key": TOKEN, "X-Pinecone-Api-Version": "2026-07"}
# pinecone-io/pinecone-api 2026-07/db_control_2026-07.oas.yaml: read in place when the lead has
# vendored it beside the 2025-10 documents; the shapes below follow it either way.
CONTROL_2026_07 = "db_control_2026-07.oas.yaml"


def test_control_plane_2026_07_follows_its_document(sim, vendor_dir):
    """What pinecone 10.x speaks: a classic index from the reserved fields only, described with
    both _values and _sparse_values when dense; deployment and name default when omitted; a
    schema without fields refused with the document's message; 401 as text/plain."""
    created = requests.post(
        f"{sim.control_url}/indexes",
        headers=V2026,
        timeout=10,
        json={"schema": {"fields": {"_values": {"type": "dense_vector", "dimension": DIM, "metric": "dotproduct"}}}},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["deployment"] == {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    assert body["name"].startswith("index-")
    assert body["schema"]["fields"] == {
        "_values": {"type": "dense_vector", "dimension": DIM, "metric": "dotproduct"},
        "_sparse_values": {"type": "sparse_vector"},
    }
    both = {"_values": {"type": "dense_vector", "dimension": DIM, "metric": "dotproduct"}, "_sparse_values": {"type": "sparse_vector"}}
    hybrid = requests.post(f"{sim.control_url}/indexes", headers=V2026, timeout=10, json={"name": "hybrid", "schema": {"fields": both}})
    assert hybrid.status_code == 201 and hybrid.json()["schema"]["fields"] == both
    sparse = requests.post(
        f"{sim.control_url}/indexes",
        headers=V2026,
        timeout=10,
        json={"name": "sparse", "schema": {"fields": {"_sparse_values": {"type": "sparse_vector"}}}},
    )
    assert sparse.json()["schema"]["fields"] == {"_sparse_values": {"type": "sparse_vector"}}
    empty = requests.post(f"{sim.control_url}/indexes", headers=V2026, timeout=10, json={"name": "empty", "schema": {"fields": {}}})
    assert empty.status_code == 400 and "at least one of the following field types" in empty.json()["error"]["message"]
    unauthorized = requests.get(f"{sim.control_url}/indexes", headers={**V2026, "Api-Key": "wrong"}, timeout=10)
    assert unauthorized.status_code == 401 and unauthorized.headers["Content-Type"].startswith("text/plain")
    listed = requests.get(f"{sim.control_url}/indexes", headers=V2026, timeout=10).json()
    document = vendor_dir / "pinecone" / CONTROL_2026_07
    if not document.exists():
        pytest.skip(f"{CONTROL_2026_07} is not vendored in reference/vendor/pinecone yet")
    spec = _load(vendor_dir, CONTROL_2026_07)
    assert_valid(component(spec, "CreateIndexRequest"), {"name": "hybrid", "schema": {"fields": both}})
    for model in (body, hybrid.json(), sparse.json()):
        assert_valid(component(spec, "IndexModel"), model)
    assert_valid(component(spec, "IndexList"), listed)
    assert_valid(component(spec, "ErrorResponse"), empty.json())


def test_index_waits_for_ready(sim):
    sim.describes_until_ready = 1
    created = requests.post(
        f"{sim.control_url}/indexes",
        headers=V2025,
        timeout=10,
        json={"name": "slow", "dimension": DIM, "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}},
    )
    assert created.json()["status"] == {"ready": False, "state": "Initializing"}
    first = requests.get(f"{sim.control_url}/indexes/slow", headers=V2025, timeout=10).json()
    second = requests.get(f"{sim.control_url}/indexes/slow", headers=V2025, timeout=10).json()
    assert (first["status"]["ready"], second["status"]["ready"]) == (False, True)


def test_create_refuses_bad_settings(sim):
    for body in (
        {"name": "Bad_Name", "dimension": 4, "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}},
        {"name": "ok", "dimension": 0, "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}},
        {"name": "ok", "dimension": 4, "metric": "manhattan", "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}},
    ):
        response = requests.post(f"{sim.control_url}/indexes", headers=V2025, json=body, timeout=10)
        assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_ARGUMENT"


# --- data plane shapes ---------------------------------------------------------------------------


def test_data_plane_answers_match_the_document(host, data_spec):
    vectors = [
        {"id": f"doc:{i}#0", "values": [1.0, float(i), 0.0, 0.5], "metadata": {"source": "doc", "n": i, "tags": ["a"]}} for i in range(3)
    ]
    assert_valid(component(data_spec, "UpsertRequest"), {"vectors": vectors, "namespace": "ns"})
    answers = {
        ("/vectors/upsert", "post"): upsert(host, vectors, "ns"),
        ("/query", "post"): call(
            host,
            "POST",
            "/query",
            json={"vector": [1, 0, 0, 0], "topK": 2, "namespace": "ns", "includeMetadata": True, "includeValues": True},
        ),
        ("/vectors/fetch", "get"): call(
            host, "GET", "/vectors/fetch", params=[("ids", "doc:0#0"), ("ids", "doc:9#0"), ("namespace", "ns")]
        ),
        ("/vectors/list", "get"): call(host, "GET", "/vectors/list", params={"prefix": "doc:", "limit": 2, "namespace": "ns"}),
        ("/describe_index_stats", "post"): call(host, "POST", "/describe_index_stats", json={}),
        ("/vectors/delete", "post"): call(host, "POST", "/vectors/delete", json={"ids": ["doc:2#0"], "namespace": "ns"}),
    }
    for (path, method), response in answers.items():
        assert response.status_code == 200, (path, response.text)
        assert_valid(schema_of(data_spec, path, method, "200"), response.json())
    assert answers[("/vectors/upsert", "post")].json() == {"upsertedCount": 3}
    matches = answers[("/query", "post")].json()["matches"]
    assert [m["id"] for m in matches] == ["doc:0#0", "doc:1#0"] and matches[0]["metadata"]["n"] == 0
    assert list(answers[("/vectors/fetch", "get")].json()["vectors"]) == ["doc:0#0"]
    listed = answers[("/vectors/list", "get")].json()
    assert [v["id"] for v in listed["vectors"]] == ["doc:0#0", "doc:1#0"] and listed["pagination"]["next"]
    stats = answers[("/describe_index_stats", "post")].json()
    assert stats["namespaces"] == {"ns": {"vectorCount": 3}} and stats["dimension"] == DIM and stats["totalVectorCount"] == 3
    assert answers[("/vectors/delete", "post")].json() == {}


def test_default_namespace_is_named_in_stats(host):
    upsert(host, [{"id": "a", "values": [1, 0, 0, 0]}])
    assert call(host, "POST", "/describe_index_stats", json={}).json()["namespaces"] == {"__default__": {"vectorCount": 1}}


def test_list_pages_by_100_with_a_prefix(host):
    upsert(host, [{"id": f"jira:{i:03d}#0", "values": [1, 0, 0, 0]} for i in range(250)] + [{"id": "slack:x#0", "values": [1, 0, 0, 0]}])
    pages, token = [], None
    while True:
        params = {"prefix": "jira:", **({"paginationToken": token} if token else {})}
        body = call(host, "GET", "/vectors/list", params=params).json()
        pages.append([v["id"] for v in body["vectors"]])
        token = (body.get("pagination") or {}).get("next")
        if not token:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sum(pages, []) == [f"jira:{i:03d}#0" for i in range(250)]


def test_delete_by_filter_and_all(host):
    upsert(host, [{"id": f"v{i}", "values": [1, 0, 0, 0], "metadata": {"source": "a" if i % 2 else "b"}} for i in range(6)])
    call(host, "POST", "/vectors/delete", json={"filter": {"source": {"$eq": "a"}}, "namespace": ""})
    assert call(host, "POST", "/describe_index_stats", json={}).json()["totalVectorCount"] == 3
    call(host, "POST", "/vectors/delete", json={"deleteAll": True, "namespace": ""})
    assert call(host, "POST", "/describe_index_stats", json={}).json()["totalVectorCount"] == 0


# --- limits --------------------------------------------------------------------------------------


def test_request_over_2mb(host, data_spec):
    big = [{"id": f"v{i}", "values": [0.123456789] * DIM, "metadata": {"text": "x" * 30_000}} for i in range(70)]
    body = json.dumps({"vectors": big})
    assert len(body) > MAX_REQUEST_BYTES
    assert_rpc_error(upsert(host, big), 400, data_spec, "exceeds the maximum supported size of 2MB")
    assert upsert(host, big[:60]).status_code == 200


def test_over_1000_vectors(host, data_spec):
    vectors = [{"id": f"v{i}", "values": [1, 0, 0, 0]} for i in range(1001)]
    assert_rpc_error(upsert(host, vectors), 400, data_spec, "1000")
    assert upsert(host, vectors[:1000]).status_code == 200


def test_metadata_over_40kb(host, data_spec):
    message = assert_rpc_error(
        upsert(host, [{"id": "v", "values": [1, 0, 0, 0], "metadata": {"text": "x" * MAX_METADATA_BYTES}}]), 400, data_spec
    )
    assert "exceeds the limit of 40960 bytes per vector" in message
    fits = {"text": "x" * (MAX_METADATA_BYTES - len('{"text":""}'))}
    assert upsert(host, [{"id": "v", "values": [1, 0, 0, 0], "metadata": fits}]).status_code == 200


def test_null_and_nested_metadata(sim, host, data_spec):
    assert_rpc_error(upsert(host, [{"id": "v", "values": [1, 0, 0, 0], "metadata": {"a": None}}]), 400, data_spec, "'null'")
    assert_rpc_error(upsert(host, [{"id": "v", "values": [1, 0, 0, 0], "metadata": {"a": {"b": 1}}}]), 400, data_spec, "field 'a'")
    assert_rpc_error(upsert(host, [{"id": "v", "values": [1, 0, 0, 0], "metadata": {"a": ["x", 1]}}]), 400, data_spec)
    sim.reject_null_metadata = False  # the other reading: the server strips nulls
    assert upsert(host, [{"id": "v", "values": [1, 0, 0, 0], "metadata": {"a": None, "b": 1}}]).status_code == 200
    fetched = call(host, "GET", "/vectors/fetch", params={"ids": "v"}).json()
    assert fetched["vectors"]["v"]["metadata"] == {"b": 1}


def test_ids_dimensions_top_k_and_id_counts(host, data_spec):
    assert_rpc_error(upsert(host, [{"id": "x" * 513, "values": [1, 0, 0, 0]}]), 400, data_spec, "512")
    assert upsert(host, [{"id": "x" * 512, "values": [1, 0, 0, 0]}]).status_code == 200
    assert_rpc_error(upsert(host, [{"id": "caf\u00e9", "values": [1, 0, 0, 0]}]), 400, data_spec, "ASCII")
    assert_rpc_error(upsert(host, [{"id": "v", "values": [1, 0, 0]}]), 400, data_spec, "does not match the dimension of the index 4")
    assert_rpc_error(call(host, "POST", "/query", json={"vector": [1, 0], "topK": 1}), 400, data_spec, "dimension")
    assert_rpc_error(call(host, "POST", "/query", json={"vector": [1, 0, 0, 0], "topK": 10_001}), 400, data_spec, "topK")
    assert call(host, "POST", "/query", json={"vector": [1, 0, 0, 0], "topK": 10_000}).status_code == 200
    many = [("ids", f"v{i}") for i in range(1001)]
    assert_rpc_error(call(host, "GET", "/vectors/fetch", params=many), 400, data_spec, "1000")
    assert_rpc_error(call(host, "POST", "/vectors/delete", json={"ids": [f"v{i}" for i in range(1001)]}), 400, data_spec, "1000")
    assert_rpc_error(call(host, "POST", "/describe_index_stats", json={"filter": {"a": "b"}}), 400, data_spec, "Serverless")
    assert_rpc_error(call(host, "GET", "/vectors/list", params={"limit": 101}), 400, data_spec, "limit")


def test_credentials_unknown_index_and_rate_limit(box, host, data_spec):
    assert_rpc_error(
        call(host, "POST", "/query", headers={**V2025, "Api-Key": "nope"}, json={"vector": [1, 0, 0, 0], "topK": 1}),
        401,
        data_spec,
        "Invalid API Key",
    )
    assert_rpc_error(
        call(host.replace("/data/vs", "/data/other"), "POST", "/query", json={"vector": [1, 0, 0, 0], "topK": 1}), 404, data_spec
    )
    box.rate_limits["pinecone"] = RateLimiter(rate=1, per_s=60, burst=1)
    call(host, "POST", "/describe_index_stats", json={})
    limited = call(host, "POST", "/describe_index_stats", json={})
    assert_rpc_error(limited, 429, data_spec)
    assert int(limited.headers["Retry-After"]) >= 1


# --- filters -------------------------------------------------------------------------------------

RECORD = {
    "source": "jira",
    "projects": ["SUBS", "BC"],
    "access_type": "private",
    "access_list": ["ana@example.com"],
    "timestamp_epoch": 1_700_000_000,
    "score": 2.5,
    "done": True,
}


@pytest.mark.parametrize(
    "flt, expected",
    [
        ({"source": "jira"}, True),
        ({"source": {"$eq": "slack"}}, False),
        ({"source": {"$ne": "slack"}}, True),
        ({"projects": "BC"}, True),  # $eq on a list: contains
        ({"projects": {"$in": ["ARCH", "SUBS"]}}, True),
        ({"projects": {"$nin": ["SUBS"]}}, False),
        ({"projects": {"$nin": ["ARCH"]}}, True),
        ({"timestamp_epoch": {"$gte": 1_700_000_000, "$lt": 1_700_000_001}}, True),
        ({"timestamp_epoch": {"$gt": 1_700_000_000}}, False),
        ({"score": {"$lte": 2.5}}, True),
        ({"done": True}, True),
        ({"done": 1}, False),  # booleans are not numbers
        ({"missing": {"$exists": False}}, True),
        ({"missing": {"$ne": "x"}}, True),
        ({"missing": {"$in": ["x"]}}, False),
        ({"missing": {"$gt": 0}}, False),
        ({"$or": [{"access_type": {"$eq": "all"}}, {"access_list": {"$in": ["ana@example.com"]}}]}, True),
        ({"$or": [{"access_type": {"$eq": "all"}}, {"access_list": {"$in": ["bob@example.com"]}}]}, False),
        ({"$and": [{"source": {"$in": ["jira"]}}, {"projects": {"$in": ["BC"]}}]}, True),
        ({"$and": [{"source": {"$in": ["jira"]}}, {"projects": {"$in": ["ARCH"]}}]}, False),
    ],
)
def test_filter_semantics(flt, expected):
    assert compile_filter(flt)(RECORD) is expected


@pytest.mark.parametrize(
    "flt", [{"$xor": []}, {"a": {"$like": "x"}}, {"a": {"$in": "x"}}, {"a": {"$gt": "1"}}, {"$and": []}, {"a": {"$exists": 1}}, []]
)
def test_malformed_filters_are_refused(flt, host, data_spec):
    with pytest.raises(BadRequest):
        compile_filter(flt)
    assert_rpc_error(call(host, "POST", "/query", json={"vector": [1, 0, 0, 0], "topK": 1, "filter": flt}), 400, data_spec)


# --- sparse-dense and sparse indexes (issue #17) ---------------------------------------------------

SERVERLESS = {"serverless": {"cloud": "aws", "region": "us-east-1"}}


def make_index(sim, name: str, **settings) -> str:
    response = requests.post(f"{sim.control_url}/indexes", headers=V2025, timeout=10, json={"name": name, "spec": SERVERLESS, **settings})
    assert response.status_code == 201, response.text
    return response.json()["host"]


def test_sparse_dense_upsert_and_query_follow_the_document(sim, data_spec):
    host = make_index(sim, "hybrid", dimension=DIM, metric="dotproduct")
    vectors = [
        {"id": "a", "values": [1, 0, 0, 0], "sparseValues": {"indices": [10, 45], "values": [0.5, 0.5]}, "metadata": {"source": "jira"}},
        {"id": "b", "values": [0, 1, 0, 0], "sparseValues": {"indices": [45, 4_294_967_295], "values": [0.2, 0.9]}},
        {"id": "c", "values": [0.5, 0.5, 0, 0]},  # dense only: a sparse-dense index takes it too
    ]
    request = {"vectors": vectors, "namespace": "ns"}
    assert_valid(component(data_spec, "UpsertRequest"), request)
    assert upsert(host, vectors, "ns").json() == {"upsertedCount": 3}
    query = {
        "vector": [0.5, 0.1, 0, 0],
        "sparseVector": {"indices": [45, 4_294_967_295], "values": [1.0, 0.5]},
        "topK": 3,
        "namespace": "ns",
        "includeValues": True,
    }
    assert_valid(component(data_spec, "QueryRequest"), query)
    answer = call(host, "POST", "/query", json=query)
    assert answer.status_code == 200, answer.text
    assert_valid(schema_of(data_spec, "/query", "post", "200"), answer.json())
    scores = {m["id"]: m["score"] for m in answer.json()["matches"]}
    # dense dot product + sparse dot product (docs: "Query sparse-dense vectors")
    assert scores == pytest.approx({"a": 0.5 + 0.5, "b": 0.1 + 0.2 + 0.45, "c": 0.3})
    assert [m["id"] for m in answer.json()["matches"]] == ["a", "b", "c"]
    assert answer.json()["matches"][0]["sparseValues"] == {"indices": [10, 45], "values": [0.5, 0.5]}
    # alpha = 0 (keyword only): a zero dense vector is a valid query; dense-only records score 0
    keyword = call(host, "POST", "/query", json={**query, "vector": [0, 0, 0, 0], "includeValues": False}).json()["matches"]
    assert [(m["id"], round(m["score"], 6)) for m in keyword] == [("b", 0.65), ("a", 0.5), ("c", 0.0)]
    fetched = call(host, "GET", "/vectors/fetch", params=[("ids", "b"), ("namespace", "ns")])
    assert_valid(schema_of(data_spec, "/vectors/fetch", "get", "200"), fetched.json())
    assert fetched.json()["vectors"]["b"]["sparseValues"] == {"indices": [45, 4_294_967_295], "values": [0.2, 0.9]}


def test_sparse_values_are_refused_as_the_spec_limits_them(sim, host, data_spec):
    hybrid = make_index(sim, "hybrid", dimension=DIM, metric="dotproduct")
    dense = [1, 0, 0, 0]
    bad = {
        "the same length": {"indices": [1, 2], "values": [0.5]},
        "must not be empty": {"indices": [], "values": []},
        "at most 1000 non-zero values": {"indices": list(range(1001)), "values": [0.1] * 1001},
        "between 0 and 4294967295": {"indices": [-1], "values": [0.1]},
        "between 0 and 4294967295 ": {"indices": [2**32], "values": [0.1]},
        "unique": {"indices": [3, 3], "values": [0.1, 0.2]},
        "finite numbers": {"indices": [3], "values": ["x"]},
        "'indices' and 'values' arrays": {"indices": [3]},
    }
    for fragment, sparse in bad.items():
        assert_rpc_error(upsert(hybrid, [{"id": "v", "values": dense, "sparseValues": sparse}]), 400, data_spec, fragment.strip())
        assert_rpc_error(
            call(hybrid, "POST", "/query", json={"vector": dense, "sparseVector": sparse, "topK": 1}), 400, data_spec, fragment.strip()
        )
    fits = {"indices": list(range(1000)), "values": [0.1] * 1000}
    assert upsert(hybrid, [{"id": "v", "values": dense, "sparseValues": fits}]).status_code == 200
    # cosine (the fixture's index): sparse values need dotproduct, on upsert and on query
    assert_rpc_error(
        upsert(host, [{"id": "v", "values": dense, "sparseValues": {"indices": [1], "values": [1.0]}}]), 400, data_spec, "dotproduct"
    )
    assert_rpc_error(
        call(host, "POST", "/query", json={"vector": dense, "sparseVector": {"indices": [1], "values": [1.0]}, "topK": 1}),
        400,
        data_spec,
        "dotproduct",
    )
    # a dense index needs a dense vector in every query, and a non-zero one in every record
    assert_rpc_error(
        call(hybrid, "POST", "/query", json={"sparseVector": {"indices": [1], "values": [1.0]}, "topK": 1}),
        400,
        data_spec,
        "needs a vector",
    )
    assert_rpc_error(
        upsert(hybrid, [{"id": "z", "values": [0, 0, 0, 0], "sparseValues": fits}]), 400, data_spec, "at least one non-zero value"
    )


def test_a_sparse_index_scores_sparse_only(sim, control_spec, data_spec):
    request = {"name": "keywords", "vector_type": "sparse", "metric": "dotproduct", "spec": SERVERLESS}
    assert_valid(component(control_spec, "CreateIndexRequest"), request)
    host = make_index(sim, "keywords", vector_type="sparse", metric="dotproduct")
    described = requests.get(f"{sim.control_url}/indexes/keywords", headers=V2025, timeout=10).json()
    assert_valid(schema_of(control_spec, "/indexes/{index_name}", "get", "200"), described)
    assert described["vector_type"] == "sparse" and described["metric"] == "dotproduct" and "dimension" not in described
    records = [
        {"id": "a", "sparseValues": {"indices": [1, 2], "values": [0.5, 0.2]}},
        {"id": "b", "sparseValues": {"indices": [3], "values": [0.9]}},
    ]
    assert upsert(host, records).status_code == 200
    answer = call(host, "POST", "/query", json={"sparseVector": {"indices": [1], "values": [2.0]}, "topK": 5})
    assert_valid(schema_of(data_spec, "/query", "post", "200"), answer.json())
    assert [(m["id"], m["score"]) for m in answer.json()["matches"]] == [("a", 1.0)]  # zero scores are dropped
    stats = call(host, "POST", "/describe_index_stats", json={}).json()
    assert_valid(schema_of(data_spec, "/describe_index_stats", "post", "200"), stats)
    assert stats["vectorType"] == "sparse" and "dimension" not in stats and stats["totalVectorCount"] == 2
    assert_rpc_error(
        upsert(host, [{"id": "c", "values": [1.0, 0, 0, 0], "sparseValues": {"indices": [1], "values": [1.0]}}]),
        400,
        data_spec,
        "sparseValues only",
    )
    assert_rpc_error(upsert(host, [{"id": "c", "values": []}]), 400, data_spec, "sparseValues are required")
    assert_rpc_error(call(host, "POST", "/query", json={"vector": [1, 0, 0, 0], "topK": 1}), 400, data_spec, "sparseVector")
    assert_rpc_error(
        call(host, "POST", "/query", json={"sparseVector": {"indices": [1], "values": [1.0]}, "topK": 1001}), 400, data_spec, "1000"
    )
    for body in (
        {"name": "s2", "vector_type": "sparse", "metric": "cosine", "spec": SERVERLESS},
        {"name": "s3", "vector_type": "sparse", "dimension": 4, "spec": SERVERLESS},
    ):
        refused = requests.post(f"{sim.control_url}/indexes", headers=V2025, json=body, timeout=10)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "INVALID_ARGUMENT"


def test_sdk_10_writes_and_queries_sparse_values(sim):
    pc = Pinecone(api_key=TOKEN, host=sim.control_url)
    pc.create_index(name="hybrid", dimension=DIM, metric="dotproduct", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    index = pc.Index(host=sim.index_host("hybrid"))
    index.upsert(
        vectors=[
            {"id": "a", "values": [1.0, 0, 0, 0], "sparse_values": {"indices": [7], "values": [0.5]}},
            {"id": "b", "values": [0, 1.0, 0, 0]},
        ]
    )
    hits = index.query(vector=[0.25, 0.5, 0, 0], sparse_vector={"indices": [7], "values": [1.0]}, top_k=2).matches
    assert [(h.id, round(h.score, 6)) for h in hits] == [("a", 0.75), ("b", 0.5)]
    assert index.fetch(ids=["a"]).vectors["a"].sparse_values.indices == [7]
    model = pc.create_index(name="sparse", vector_type="sparse", metric="dotproduct", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    assert model.status.ready and sim.indexes["sparse"].vector_type == "sparse"
    keywords = pc.Index(host=model.host)
    keywords.upsert(vectors=[{"id": "k", "sparse_values": {"indices": [7, 9], "values": [0.5, 0.1]}}])
    assert [(h.id, h.score) for h in keywords.query(sparse_vector={"indices": [9], "values": [2.0]}, top_k=3).matches] == [
        ("k", pytest.approx(0.2))
    ]
