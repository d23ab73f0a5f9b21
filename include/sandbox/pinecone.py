"""Pinecone simulator: the control plane and each serverless index's data plane, in memory.

Control plane under ``/pinecone`` (what ``Pinecone(host=...)`` takes): ``POST /indexes``,
``GET /indexes``, ``GET|DELETE /indexes/{name}``. Each index's data plane lives at the ``host``
the control plane reports, ``{sandbox}/pinecone/data/{name}`` with its scheme: the pinecone SDK
10.x keeps ``http://`` and a path prefix in a host (it concatenates request paths onto it), so
one sandbox port serves every index. Data plane: ``POST /vectors/upsert``, ``POST /query``,
``GET /vectors/fetch``, ``POST /vectors/delete``, ``POST /vectors/update`` (by id, or by metadata
``filter`` with ``setMetadata``), ``GET /vectors/list``, ``POST /describe_index_stats``.

Dialects (``X-Pinecone-Api-Version``): ``2025-10``, the vendor spec in reference/vendor (and the
default when the header is missing), and ``2026-07``, what pinecone 10.x sends
(pinecone-io/pinecone-api ``2026-07/db_control_2026-07.oas.yaml``). They differ in the control
plane: 2025-10 describes an index by ``dimension``/``metric``/``spec``, 2026-07 by a schema of
fields and a ``deployment``. In 2026-07 a vectors-API ("classic") index is created from the
reserved fields ``_values`` (dense_vector) and/or ``_sparse_values`` (sparse_vector) and nothing
else; "Dense vectors-API indexes always report both ``_values`` and ``_sparse_values``"; an
omitted ``deployment`` is managed on aws ``us-east-1`` and an omitted ``name`` is generated
(``CreateIndexRequest``, ``IndexSchema``). Other fields (the documents API) are not simulated.
The data-plane vectors API keeps its paths in 2026-07 (``db_data_2026-07``); its bodies are
taken to be the 2025-10 ones (not validated against 2026-07). 401 answers are text/plain in
2026-07 on both planes (``UnauthorizedMessage``).

Limits (api-facts.md, vendor docs and reported messages), each a 400 ``{"code": 3, "message",
"details": []}``: request body over 2 MB (2,000,000 bytes: the strict reading of "2MB"), over
1,000 vectors per upsert, metadata over 40,960 bytes (compact JSON) per vector, ids over 512
characters or non-ASCII, a vector of the wrong dimension, ``topK`` outside 1..10,000, over 1,000
ids per fetch or delete, a filter on ``describe_index_stats`` (serverless), a malformed filter.
Null metadata values: Pinecone's docs say they are unsupported; the pinecone SDK's source says
the server strips them. The simulator picks refusal (``reject_null_metadata``, on by default), the
stricter reading, so a client that sends nulls is caught; clients should drop them either way.
Errors: data plane ``rpcStatus`` (gRPC codes), control plane ``{"error": {"code", "message"},
"status"}``; 401 for a wrong ``Api-Key``; 429 ``RESOURCE_EXHAUSTED`` with ``Retry-After``.
Queries are exact (numpy) over the vectors passing the filter.

Sparse vectors (issue #17), as the vendor documents them (docs.pinecone.io: "Upsert sparse-dense
vectors", "Query sparse-dense vectors", "Sparse indexes"; ``SparseValues`` in the 2025-10 spec):

- a dense index of metric ``dotproduct`` takes ``sparseValues`` beside ``values`` on upsert and
  ``sparseVector`` beside ``vector`` on query; the score is the dense dot product plus the sparse
  one. A dense index always needs ``vector`` (or ``id``) in a query; an all-zero ``vector`` is
  accepted there (the alpha = 0 of the convex combination; llama_index's sparse query mode
  sends one, run-llama/llama_index#12967), while an upserted dense vector must
  have a non-zero value. Sparse values on an index of another metric are refused;
- a sparse index (``vector_type: sparse``, metric dotproduct, no dimension; 2026-07: one
  ``sparse_vector`` field) takes records with ``sparseValues`` only and queries with
  ``sparseVector`` only, ``topK`` at most 1,000, and drops matches scoring 0;
- ``SparseValues``: ``indices`` (uint32, unique) and ``values`` (finite numbers) of the same
  length, 1 to 1,000 items each.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandbox.server import Request, Response, Simulator, route
from sandbox.workspace import Workspace

MAX_REQUEST_BYTES = 2_000_000
MAX_UPSERT_VECTORS = 1000
MAX_METADATA_BYTES = 40_960
MAX_ID_CHARS = 512
MAX_TOP_K = 10_000
MAX_IDS_PER_REQUEST = 1000  # fetch and delete by ids
LIST_DEFAULT_LIMIT = 100
LIST_MAX_LIMIT = 100
MAX_DIMENSION = 20_000
MAX_SPARSE_NONZERO = 1000  # SparseValues.indices/values maxLength (spec); "Max non-zero values" (docs)
MAX_SPARSE_TOP_K = 1000  # sparse indexes ("Max top_k value per query: 1000")
MAX_SPARSE_INDEX = 2**32 - 1  # indices are uint32
# The 400 message Pinecone answers for sparse values on a cosine or euclidean index, as users
# quote it in public issues and troubleshooting notes.
SPARSE_NOT_SUPPORTED = "Index configuration does not support sparse values - only indexes that are sparse or using dotproduct are supported"
DEFAULT_NAMESPACE_NAME = "__default__"  # how stats name the "" namespace
# db_control 2026-07, CreateIndexSchema.fields: the answer to a schema without fields.
NO_VECTOR_FIELDS = (
    "Schema must contain at least one of the following field types: dense_vector, sparse_vector, string with full_text_search"
)
API_VERSIONS = ("2025-10", "2026-07")
DEFAULT_API_VERSION = "2025-10"
METRICS = ("cosine", "euclidean", "dotproduct")
_INDEX_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")

# gRPC status codes used in rpcStatus bodies.
INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, RESOURCE_EXHAUSTED = 3, 5, 6, 8
UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED = 12, 13, 14, 16
_GRPC_FOR_HTTP = {
    400: INVALID_ARGUMENT,
    401: UNAUTHENTICATED,
    404: NOT_FOUND,
    405: UNIMPLEMENTED,
    409: ALREADY_EXISTS,
    429: RESOURCE_EXHAUSTED,
    503: UNAVAILABLE,
}
_CONTROL_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    422: "UNPROCESSABLE_ENTITY",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class BadRequest(Exception):
    """A request the data plane refuses with 400 INVALID_ARGUMENT."""


# --- storage ------------------------------------------------------------------------------------


class Namespace:
    """Vectors of one namespace: a growable float32 matrix, rows reused after deletes."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.rows: dict[str, int] = {}
        self.matrix = np.zeros((16, dimension), dtype=np.float32)
        self.norms = np.zeros(16, dtype=np.float32)
        self.metadata: list[dict[str, Any] | None] = [None] * 16
        self.ids: list[str | None] = [None] * 16
        self.sparse: list[dict[int, float] | None] = [None] * 16
        self.free: list[int] = []
        self.used = 0

    def __len__(self) -> int:
        return len(self.rows)

    def upsert(self, vector_id: str, values: np.ndarray, metadata: dict[str, Any] | None, sparse: dict[int, float] | None = None) -> None:
        row = self.rows.get(vector_id)
        if row is None:
            row = self.free.pop() if self.free else self._append_row()
            self.rows[vector_id] = row
            self.ids[row] = vector_id
        self.matrix[row] = values
        self.norms[row] = float(np.linalg.norm(values))
        self.metadata[row] = metadata or None
        self.sparse[row] = sparse or None

    def delete(self, vector_id: str) -> None:
        row = self.rows.pop(vector_id, None)
        if row is not None:
            self.ids[row] = None
            self.metadata[row] = None
            self.sparse[row] = None
            self.free.append(row)

    def _append_row(self) -> int:
        if self.used == len(self.ids):
            grow = len(self.ids)
            self.matrix = np.concatenate([self.matrix, np.zeros((grow, self.dimension), dtype=np.float32)])
            self.norms = np.concatenate([self.norms, np.zeros(grow, dtype=np.float32)])
            self.metadata.extend([None] * grow)
            self.ids.extend([None] * grow)
            self.sparse.extend([None] * grow)
        self.used += 1
        return self.used - 1

    def record(self, vector_id: str, values: bool = True, metadata: bool = True) -> dict[str, Any]:
        row = self.rows[vector_id]
        out: dict[str, Any] = {"id": vector_id, "values": self.matrix[row].tolist() if values else []}
        if values and self.sparse[row]:
            out["sparseValues"] = _sparse_out(self.sparse[row])
        if metadata and self.metadata[row]:
            out["metadata"] = self.metadata[row]
        return out

    def sparse_scores(self, rows: np.ndarray, query: dict[int, float]) -> np.ndarray:
        """The sparse dot product of ``query`` with each row (0 for rows without sparse values)."""
        out = np.zeros(len(rows), dtype=np.float32)
        for position, row in enumerate(rows):
            stored = self.sparse[int(row)]
            if stored:
                out[position] = sum(weight * stored.get(index, 0.0) for index, weight in query.items())
        return out


@dataclass
class Index:
    name: str
    dimension: int
    metric: str = "cosine"
    cloud: str = "aws"
    region: str = "us-east-1"
    deletion_protection: str = "disabled"
    tags: dict[str, str] | None = None
    describes_until_ready: int = 0
    vector_type: str = "dense"  # or "sparse": no dimension, sparse values only
    namespaces: dict[str, Namespace] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.describes_until_ready <= 0

    def namespace(self, name: str | None, create: bool = False) -> Namespace | None:
        key = "" if name in (None, "", DEFAULT_NAMESPACE_NAME) else str(name)
        ns = self.namespaces.get(key)
        if ns is None and create:
            ns = self.namespaces[key] = Namespace(self.dimension)
        return ns


# --- filters ------------------------------------------------------------------------------------

_COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
_OPERATORS = {"$eq", "$ne", "$in", "$nin", "$exists", *_COMPARISONS}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (True is not 1 in a filter)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def compile_filter(flt: Any) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over metadata for a Pinecone filter; :class:`BadRequest` when malformed.

    Semantics: ``{"f": v}`` is ``$eq``; on a list-of-strings field ``$eq``/``$in`` match when the
    list contains a value and ``$ne``/``$nin`` when it contains none; a missing field matches only
    ``$ne``, ``$nin`` and ``$exists: false``; ``$gt`` etc. compare numbers only.
    """
    if not isinstance(flt, dict):
        raise BadRequest(f"filter must be an object, got {json.dumps(flt)}")
    clauses: list[Callable[[Mapping[str, Any]], bool]] = []
    for key, value in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise BadRequest(f"{key} must be a non-empty array of filters")
            parts = [compile_filter(item) for item in value]
            clauses.append((lambda md, p=parts: all(c(md) for c in p)) if key == "$and" else (lambda md, p=parts: any(c(md) for c in p)))
        elif key.startswith("$"):
            raise BadRequest(f"unknown top-level operator {key}")
        else:
            clauses.append(_field_clause(key, value))
    return lambda md: all(c(md) for c in clauses)


def _field_clause(name: str, spec: Any) -> Callable[[Mapping[str, Any]], bool]:
    if not isinstance(spec, dict):
        spec = {"$eq": spec}
    if not spec:
        raise BadRequest(f"empty condition for field {name}")
    tests = [_operator(name, op, operand) for op, operand in spec.items()]
    return lambda md: all(t(md) for t in tests)


def _operator(name: str, op: str, operand: Any) -> Callable[[Mapping[str, Any]], bool]:
    if op not in _OPERATORS:
        raise BadRequest(f"unknown operator {op} for field {name}")
    if op == "$exists":
        if not isinstance(operand, bool):
            raise BadRequest(f"$exists takes a boolean, got {json.dumps(operand)}")
        return lambda md: (name in md) == operand
    if op in _COMPARISONS:
        if not _is_number(operand):
            raise BadRequest(f"{op} takes a number, got {json.dumps(operand)}")
        compare = {"$gt": float.__gt__, "$gte": float.__ge__, "$lt": float.__lt__, "$lte": float.__le__}[op]
        return lambda md: _is_number(md.get(name)) and compare(float(md[name]), float(operand))
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or any(isinstance(v, (dict, list)) or v is None for v in operand):
            raise BadRequest(f"{op} takes an array of strings, numbers or booleans, got {json.dumps(operand)}")
        found = lambda md: name in md and any(_contains(md[name], v) for v in operand)  # noqa: E731
        return found if op == "$in" else (lambda md: not found(md))
    if isinstance(operand, (dict, list)) or operand is None:
        raise BadRequest(f"{op} takes a string, number or boolean, got {json.dumps(operand)}")
    equal = lambda md: name in md and _contains(md[name], operand)  # noqa: E731
    return equal if op == "$eq" else (lambda md: not equal(md))


def _contains(stored: Any, value: Any) -> bool:
    if isinstance(stored, list):
        return any(_same(item, value) for item in stored)
    return _same(stored, value)


# --- the simulator ------------------------------------------------------------------------------


def _status(http: int, message: str, code: int | None = None) -> Response:
    return Response(http, {"code": code if code is not None else _GRPC_FOR_HTTP.get(http, INTERNAL), "message": message, "details": []})


def _control_error(http: int, message: str) -> Response:
    return Response(http, {"error": {"code": _CONTROL_CODES.get(http, "UNKNOWN"), "message": message}, "status": http})


def _compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


class PineconeSimulator(Simulator):
    """Serverless indexes in memory. Knobs: ``reject_null_metadata``, ``describes_until_ready``."""

    name = "pinecone"

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(workspace, **options)
        self.indexes: dict[str, Index] = {}
        self.reject_null_metadata = bool(options.get("reject_null_metadata", True))
        # How many describe calls a new index answers "Initializing" before it is ready.
        self.describes_until_ready = int(options.get("describes_until_ready", 0))
        self.upserted_bytes = 0  # request bytes of accepted upserts (benchmarks)

    @property
    def control_url(self) -> str:
        """What ``pinecone.Pinecone(host=...)`` takes."""
        return self.sandbox.base_url(self.name) if self.sandbox else f"/{self.name}"

    def index_host(self, name: str) -> str:
        """The data-plane host the control plane reports for index ``name``."""
        return f"{self.control_url}/data/{name}"

    # -- the dialect hooks

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("Api-Key") == self.token:
            return None
        message = "Invalid API Key" if request.headers.get("Api-Key") else "API key is missing or invalid"
        if self._version(request) == "2026-07":  # db_control and db_data 2026-07: 401 is text/plain (UnauthorizedMessage)
            return Response(401, message.encode(), {"Content-Type": "text/plain"})
        return _status(401, message) if request.path.startswith("/data/") else _control_error(401, message)

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        message = "Too many requests. Please retry shortly."
        response = _status(429, message) if request.path.startswith("/data/") else _control_error(429, message)
        response.headers["Retry-After"] = str(retry_after_s)
        return response

    def error(self, status: int, message: str) -> Response:
        # Called without the request (faults, unknown routes): answer in the data plane's dialect,
        # where nearly all traffic goes. Both dialects carry a top-level or nested "message".
        return _status(status, message)

    # -- control plane

    @route("POST", r"/indexes")
    def create_index(self, request: Request) -> Response:
        try:
            body = self._json(request)
        except BadRequest as exc:
            return _control_error(400, str(exc))
        if not isinstance(body, dict):
            return _control_error(400, "The request body must be a JSON object")
        name = body.get("name")
        if name is None and "schema" in body:  # 2026-07: "If not provided, a name is generated automatically."
            name = next(f"index-{n}" for n in range(1, len(self.indexes) + 2) if f"index-{n}" not in self.indexes)
        if not isinstance(name, str) or not _INDEX_NAME.match(name):
            return _control_error(
                400,
                "Resource name must be 1-45 characters long, start and end with an alphanumeric "
                "character, and consist only of lower case alphanumeric characters or '-'.",
            )
        dimension, metric, vector_type, cloud, region, problem = self._create_settings(body)
        if problem:
            return _control_error(400, problem)
        with self.lock:
            if name in self.indexes:
                return _control_error(409, f"Resource {name} already exists")
            index = self.indexes[name] = Index(
                name=name,
                dimension=dimension,
                metric=metric,
                vector_type=vector_type,
                cloud=cloud,
                region=region,
                deletion_protection=str(body.get("deletion_protection") or "disabled"),
                tags=body.get("tags") or None,
                describes_until_ready=self.describes_until_ready,
            )
        return Response(201, self._describe(index, self._version(request)))

    @route("GET", r"/indexes")
    def list_indexes(self, request: Request) -> Response:
        version = self._version(request)
        with self.lock:
            return Response(200, {"indexes": [self._describe(i, version) for i in self.indexes.values()]})

    @route("GET", r"/indexes/(?P<name>[^/]+)")
    def describe_index(self, request: Request) -> Response:
        with self.lock:
            index = self.indexes.get(request.params["name"])
            if index is None:
                return _control_error(404, f"Resource {request.params['name']} not found")
            description = self._describe(index, self._version(request))
            index.describes_until_ready -= 1
        return Response(200, description)

    @route("DELETE", r"/indexes/(?P<name>[^/]+)")
    def delete_index(self, request: Request) -> Response:
        with self.lock:
            index = self.indexes.get(request.params["name"])
            if index is None:
                return _control_error(404, f"Resource {request.params['name']} not found")
            if index.deletion_protection == "enabled":
                message = "Deletion protection is enabled for this index. Disable deletion protection before retrying."
                return Response(412, {"error": {"code": "FAILED_PRECONDITION", "message": message}, "status": 412})
            del self.indexes[index.name]
        return Response(202, b"", {"Content-Type": "text/plain"})

    def _create_settings(self, body: dict[str, Any]) -> tuple[int, str, str, str, str, str | None]:
        """(dimension, metric, vector type, cloud, region, problem) from a 2025-10 or 2026-07
        create body. A sparse index has no dimension and metric dotproduct."""
        if "schema" in body or "deployment" in body:  # 2026-07
            fields = (body.get("schema") or {}).get("fields") or {}
            if not isinstance(fields, dict) or not fields:
                return 0, "", "", "", "", NO_VECTOR_FIELDS
            reserved = {"_values": "dense_vector", "_sparse_values": "sparse_vector"}
            if set(fields) - set(reserved):
                return 0, "", "", "", "", "the simulator serves vectors-API indexes only: fields _values and/or _sparse_values"
            for name, spec in fields.items():
                if not isinstance(spec, dict) or spec.get("type") != reserved[name]:
                    return 0, "", "", "", "", f"reserved field {name} must be of type {reserved[name]}"
            dense = fields.get("_values")
            vector_type = "dense" if dense else "sparse"
            dimension, metric = (dense.get("dimension"), dense.get("metric")) if dense else (None, "dotproduct")
            # IndexDeploymentRequest: "Defaults to managed (serverless) in us-east-1 on aws if omitted."
            deployment = body.get("deployment") or {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
            if deployment.get("deployment_type") != "managed":
                return 0, "", "", "", "", "the simulator supports serverless (managed) indexes only"
            cloud, region = deployment.get("cloud"), deployment.get("region")
        else:  # 2025-10
            vector_type = body.get("vector_type") or "dense"
            if vector_type not in ("dense", "sparse"):
                return 0, "", "", "", "", "vector_type must be one of dense, sparse"
            dimension, metric = body.get("dimension"), body.get("metric") or ("dotproduct" if vector_type == "sparse" else "cosine")
            serverless = (body.get("spec") or {}).get("serverless")
            if not isinstance(serverless, dict):
                return 0, "", "", "", "", "spec.serverless is required (the simulator serves serverless indexes only)"
            cloud, region = serverless.get("cloud"), serverless.get("region")
        if vector_type == "sparse":
            # db_control 2025-10: "If the 'vector_type' is 'sparse', the metric must be 'dotproduct'"
            # and "the vector dimension should not be specified".
            if dimension is not None:
                return 0, "", "", "", "", "dimension should not be specified for a sparse index"
            if metric != "dotproduct":
                return 0, "", "", "", "", "a sparse index must use the dotproduct metric"
            dimension = 0
        elif isinstance(dimension, bool) or not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION:
            return 0, "", "", "", "", f"dimension must be an integer between 1 and {MAX_DIMENSION}"
        if metric not in METRICS:
            return 0, "", "", "", "", f"metric must be one of {', '.join(METRICS)}"
        if not cloud or not region:
            return 0, "", "", "", "", "cloud and region are required"
        return dimension, metric, vector_type, str(cloud), str(region), None

    def _describe(self, index: Index, version: str) -> dict[str, Any]:
        status = {"ready": index.ready, "state": "Ready" if index.ready else "Initializing"}
        read_capacity = {"mode": "OnDemand", "status": {"state": "Ready"}}
        if version == "2026-07":
            return {
                "name": index.name,
                "host": self.index_host(index.name),
                "status": status,
                "schema": {
                    # "Dense vectors-API indexes always report both _values and _sparse_values".
                    "fields": {"_sparse_values": {"type": "sparse_vector"}}
                    if index.vector_type == "sparse"
                    else {
                        "_values": {"type": "dense_vector", "dimension": index.dimension, "metric": index.metric},
                        "_sparse_values": {"type": "sparse_vector"},
                    }
                },
                "deployment": {"deployment_type": "managed", "cloud": index.cloud, "region": index.region},
                "read_capacity": read_capacity,
                "deletion_protection": index.deletion_protection,
                "tags": index.tags,
            }
        described = {
            "name": index.name,
            "dimension": index.dimension,
            "metric": index.metric,
            "host": self.index_host(index.name),
            "deletion_protection": index.deletion_protection,
            "spec": {"serverless": {"cloud": index.cloud, "region": index.region, "read_capacity": read_capacity}},
            "status": status,
            "vector_type": index.vector_type,
        }
        if index.vector_type == "sparse":
            del described["dimension"]
        if index.tags:
            described["tags"] = index.tags
        return described

    # -- data plane

    @route("POST", r"/data/(?P<index>[^/]+)/vectors/upsert")
    def upsert(self, request: Request) -> Response:
        if len(request.body) > MAX_REQUEST_BYTES:
            size_mb = len(request.body) / 1_000_000
            return _status(400, f"Request size {size_mb:.1f}MB exceeds the maximum supported size of 2MB")
        return self._data(request, self._upsert)

    def _upsert(self, index: Index, body: dict[str, Any], request: Request) -> dict[str, Any]:
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise BadRequest("vectors must be a non-empty array")
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise BadRequest(f"Number of vectors in upsert request ({len(vectors)}) exceeds the limit of {MAX_UPSERT_VECTORS}")
        prepared = [self._vector(index, item) for item in vectors]
        with self.lock:
            namespace = index.namespace(body.get("namespace"), create=True)
            for vector_id, values, metadata, sparse in prepared:
                namespace.upsert(vector_id, values, metadata, sparse)
            self.upserted_bytes += len(request.body)
        return {"upsertedCount": len(prepared)}

    def _vector(self, index: Index, item: Any) -> tuple[str, np.ndarray, dict[str, Any] | None, dict[int, float] | None]:
        if not isinstance(item, dict):
            raise BadRequest("each vector must be an object")
        vector_id = self._vector_id(item.get("id"))
        values = item.get("values")
        sparse = _sparse_values(item["sparseValues"], f"Vector {vector_id}: sparseValues") if item.get("sparseValues") is not None else None
        if index.vector_type == "sparse":
            if values:
                raise BadRequest(f"Vector {vector_id}: a sparse index takes sparseValues only, not dense values")
            if sparse is None:
                raise BadRequest(f"Vector {vector_id}: sparseValues are required in a sparse index")
            values = []
        else:
            # Type set, not a per-value loop: vectors have thousands of values.
            if not isinstance(values, list) or not set(map(type, values)) <= {float, int}:
                raise BadRequest(f"Vector {vector_id}: values must be an array of numbers")
            if len(values) != index.dimension:
                raise BadRequest(f"Vector dimension {len(values)} does not match the dimension of the index {index.dimension}")
            if not any(values):
                raise BadRequest(f"Dense vectors must contain at least one non-zero value. Vector ID '{vector_id}' contains only zeros")
            if sparse is not None and index.metric != "dotproduct":
                raise BadRequest(SPARSE_NOT_SUPPORTED)
        metadata = item.get("metadata")
        if metadata is not None:
            metadata = self._metadata(vector_id, metadata)
        return vector_id, np.asarray(values, dtype=np.float32), metadata, sparse

    def _metadata(self, vector_id: str, metadata: Any) -> dict[str, Any]:
        if not isinstance(metadata, dict):
            raise BadRequest(f"Vector {vector_id}: metadata must be an object")
        clean: dict[str, Any] = {}
        for key, value in metadata.items():
            if value is None:
                if self.reject_null_metadata:
                    raise BadRequest(f"Metadata value must be a string, number, boolean or list of strings, got 'null' for field '{key}'")
                continue
            ok = isinstance(value, (str, bool)) or _is_number(value) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            if not ok:
                raise BadRequest(
                    f"Metadata value must be a string, number, boolean or list of strings, got '{json.dumps(value)[:80]}' for field '{key}'"
                )
            clean[key] = value
        size = _compact_size(metadata)
        if size > MAX_METADATA_BYTES:
            raise BadRequest(f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector")
        return clean

    @staticmethod
    def _vector_id(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise BadRequest("Vector ID must be a non-empty string")
        if len(value) > MAX_ID_CHARS:
            raise BadRequest(f"Vector ID must be {MAX_ID_CHARS} characters or less, got {len(value)}")
        if not value.isascii() or "\x00" in value:
            raise BadRequest(f"Vector ID must be ASCII without NUL characters, got {value[:80]!r}")
        return value

    @route("POST", r"/data/(?P<index>[^/]+)/query")
    def query(self, request: Request) -> Response:
        return self._data(request, self._query)

    def _query(self, index: Index, body: dict[str, Any], request: Request) -> dict[str, Any]:
        top_k = body.get("topK")
        limit = MAX_SPARSE_TOP_K if index.vector_type == "sparse" else MAX_TOP_K
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= limit:
            raise BadRequest(f"topK must be an integer between 1 and {limit}, got {json.dumps(top_k)}")
        if body.get("queries") is not None:
            raise BadRequest("only a 'vector', 'sparseVector' or 'id' query is supported")
        sparse = _sparse_values(body["sparseVector"], "sparseVector") if body.get("sparseVector") is not None else None
        if index.vector_type == "sparse":
            if body.get("vector") is not None or "id" in body:
                raise BadRequest("a sparse index is queried with sparseVector only, not a dense vector or an id")
            if sparse is None:
                raise BadRequest("sparseVector is required to query a sparse index")
        else:
            if body.get("vector") is None and "id" not in body:
                raise BadRequest("a dense index needs a vector or an id in every query (sparseVector only adds to it)")
            if sparse is not None and index.metric != "dotproduct":
                raise BadRequest(SPARSE_NOT_SUPPORTED)
            if sparse is not None and body.get("vector") is None:
                raise BadRequest("sparseVector goes with a dense vector, not with an id")
        flt = body.get("filter")
        predicate = None if flt is None or flt == {} else compile_filter(flt)
        namespace_name = body.get("namespace") or ""
        with self.lock:
            namespace = index.namespace(namespace_name)
            if "id" in body and body.get("vector") is None:
                if namespace is None or body["id"] not in namespace.rows:
                    return {"matches": [], "namespace": namespace_name, "usage": {"readUnits": 1}}
                query = namespace.matrix[namespace.rows[body["id"]]].copy()
            elif index.vector_type == "sparse":
                query = np.zeros(0, dtype=np.float32)
            else:
                query = self._query_vector(index, body.get("vector"))
            if namespace is None or not len(namespace):
                return {"matches": [], "namespace": namespace_name, "usage": {"readUnits": 1}}
            rows = [row for vid, row in namespace.rows.items() if predicate is None or predicate(namespace.metadata[row] or {})]
            matches = self._rank(
                index,
                namespace,
                query,
                np.asarray(rows, dtype=np.intp),
                top_k,
                bool(body.get("includeValues")),
                bool(body.get("includeMetadata")),
                sparse,
            )
        return {"matches": matches, "namespace": namespace_name, "usage": {"readUnits": max(1, len(matches) // 100)}}

    @staticmethod
    def _query_vector(index: Index, vector: Any) -> np.ndarray:
        if not isinstance(vector, list) or not vector or not all(_is_number(v) for v in vector):
            raise BadRequest("vector must be a non-empty array of numbers")
        if len(vector) != index.dimension:
            raise BadRequest(f"Vector dimension {len(vector)} does not match the dimension of the index {index.dimension}")
        return np.asarray(vector, dtype=np.float32)

    @staticmethod
    def _rank(
        index: Index,
        namespace: Namespace,
        query: np.ndarray,
        rows: np.ndarray,
        top_k: int,
        include_values: bool,
        include_metadata: bool,
        sparse: dict[int, float] | None = None,
    ) -> list[dict[str, Any]]:
        """Exact ranking: cosine, euclidean or dot product, plus the sparse dot product on a
        dotproduct index (a sparse index scores by that alone and drops zero scores)."""
        if rows.size == 0:
            return []
        vectors = namespace.matrix[rows]
        if index.metric == "euclidean":
            scores = np.linalg.norm(vectors - query, axis=1)
            order = np.argsort(scores, kind="stable")
        else:
            scores = vectors @ query if index.vector_type == "dense" else np.zeros(len(rows), dtype=np.float32)
            if index.metric == "cosine":
                denominator = namespace.norms[rows] * float(np.linalg.norm(query))
                scores = np.divide(scores, denominator, out=np.zeros_like(scores), where=denominator > 0)
            if sparse is not None:
                scores = scores + namespace.sparse_scores(rows, sparse)
            order = np.argsort(-scores, kind="stable")
            if index.vector_type == "sparse":
                order = order[scores[order] > 0]
        matches = []
        for position in order[:top_k]:
            row = int(rows[position])
            match: dict[str, Any] = {
                "id": namespace.ids[row],
                "score": float(scores[position]),
                "values": namespace.matrix[row].tolist() if include_values else [],
            }
            if include_values and namespace.sparse[row]:
                match["sparseValues"] = _sparse_out(namespace.sparse[row])
            if include_metadata and namespace.metadata[row]:
                match["metadata"] = namespace.metadata[row]
            matches.append(match)
        return matches

    @route("GET", r"/data/(?P<index>[^/]+)/vectors/fetch")
    def fetch(self, request: Request) -> Response:
        return self._data(request, self._fetch, body_required=False)

    def _fetch(self, index: Index, body: dict[str, Any], request: Request) -> dict[str, Any]:
        ids = request.query.get("ids") or []
        if not ids:
            raise BadRequest("ids is required")
        if len(ids) > MAX_IDS_PER_REQUEST:
            raise BadRequest(f"Cannot fetch more than {MAX_IDS_PER_REQUEST} ids at once, got {len(ids)}")
        namespace_name = request.arg("namespace") or ""
        with self.lock:
            namespace = index.namespace(namespace_name)
            vectors = {vid: namespace.record(vid) for vid in ids if namespace is not None and vid in namespace.rows}
        return {"vectors": vectors, "namespace": namespace_name, "usage": {"readUnits": 1}}

    @route("POST", r"/data/(?P<index>[^/]+)/vectors/delete")
    def delete(self, request: Request) -> Response:
        return self._data(request, self._delete)

    def _delete(self, index: Index, body: dict[str, Any], request: Request) -> dict[str, Any]:
        ids, delete_all, flt = body.get("ids"), bool(body.get("deleteAll")), body.get("filter")
        if sum(x is not None and x is not False for x in (ids, flt, delete_all or None)) != 1:
            raise BadRequest("Exactly one of ids, deleteAll or filter must be given")
        if ids is not None:
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise BadRequest("ids must be an array of strings")
            if len(ids) > MAX_IDS_PER_REQUEST:
                raise BadRequest(f"Cannot delete more than {MAX_IDS_PER_REQUEST} ids at once, got {len(ids)}")
        predicate = compile_filter(flt) if flt is not None else None
        if flt is not None and not flt:
            raise BadRequest("Delete with empty metadata filter is not allowed")
        with self.lock:
            namespace = index.namespace(body.get("namespace"))
            if namespace is None:
                return {}
            if delete_all:
                targets = list(namespace.rows)
            elif predicate is not None:
                targets = [vid for vid, row in namespace.rows.items() if predicate(namespace.metadata[row] or {})]
            else:
                targets = ids
            for vid in targets:
                namespace.delete(vid)
        return {}

    @route("POST", r"/data/(?P<index>[^/]+)/vectors/update")
    def update(self, request: Request) -> Response:
        return self._data(request, self._update)

    def _update(self, index: Index, body: dict[str, Any], request: Request) -> dict[str, Any]:
        """``UpdateRequest`` of the 2025-10 data-plane spec (reference/vendor/pinecone) and
        docs.pinecone.io/guides/manage-data/update-data: by ``id`` (values and/or metadata of one
        record; an unknown id is a 200 that changes nothing), or by metadata ``filter``
        (``setMetadata`` only, on every record matching; ``dryRun`` counts without writing).
        ``setMetadata`` adds or overwrites the keys it names and leaves the others. The answer
        is ``UpdateResponse``: ``matchedRecords`` for a filter. Applied at once here (Pinecone
        applies it asynchronously)."""
        vector_id, flt, values = body.get("id"), body.get("filter"), body.get("values")
        if (vector_id is None) == (flt is None):
            raise BadRequest("Exactly one of id or filter must be given")
        if flt is not None and (values is not None or body.get("sparseValues") is not None):
            raise BadRequest("Vector values cannot be updated with a metadata filter")
        if flt is not None and not flt:
            raise BadRequest("Update with empty metadata filter is not allowed")
        set_metadata = body.get("setMetadata")
        if set_metadata is not None:
            if not isinstance(set_metadata, dict):
                raise BadRequest("setMetadata must be an object")
            set_metadata = self._metadata(str(vector_id or "filter"), set_metadata)
        sparse = _sparse_values(body["sparseValues"], "sparseValues") if body.get("sparseValues") is not None else None
        if sparse is not None and index.vector_type == "dense" and index.metric != "dotproduct":
            raise BadRequest(SPARSE_NOT_SUPPORTED)
        if vector_id is not None:
            vector_id = self._vector_id(vector_id)
            if values is not None and (not isinstance(values, list) or not set(map(type, values)) <= {float, int}):
                raise BadRequest(f"Vector {vector_id}: values must be an array of numbers")
            if values is not None and len(values) != index.dimension:
                raise BadRequest(f"Vector dimension {len(values)} does not match the dimension of the index {index.dimension}")
        predicate = compile_filter(flt) if flt is not None else None
        with self.lock:
            namespace = index.namespace(body.get("namespace"))
            if namespace is None:
                return {} if predicate is None else {"matchedRecords": 0}
            if predicate is None:
                targets = [vector_id] if vector_id in namespace.rows else []
            else:
                targets = [vid for vid, row in namespace.rows.items() if predicate(namespace.metadata[row] or {})]
            if predicate is not None and body.get("dryRun"):
                return {"matchedRecords": len(targets)}
            merged = {}
            for vid in targets:
                row = namespace.rows[vid]
                metadata = {**(namespace.metadata[row] or {}), **(set_metadata or {})}
                size = _compact_size(metadata)
                if size > MAX_METADATA_BYTES:
                    raise BadRequest(f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector")
                merged[vid] = metadata
            for vid, metadata in merged.items():
                row = namespace.rows[vid]
                if values is not None:
                    namespace.upsert(vid, np.asarray(values, dtype=np.float32), metadata, namespace.sparse[row])
                else:
                    namespace.metadata[row] = metadata or None
                if sparse is not None:
                    namespace.sparse[row] = sparse
        return {} if predicate is None else {"matchedRecords": len(targets)}

    @route("GET", r"/data/(?P<index>[^/]+)/vectors/list")
    def list_vectors(self, request: Request) -> Response:
        return self._data(request, self._list, body_required=False)

    def _list(self, index: Index, body: dict[str, Any], request: Request) -> dict[str, Any]:
        prefix = request.arg("prefix") or ""
        raw_limit = request.arg("limit")
        try:
            limit = LIST_DEFAULT_LIMIT if raw_limit in (None, "") else int(raw_limit)
        except ValueError:
            raise BadRequest(f"limit must be an integer, got {raw_limit}") from None
        if not 1 <= limit <= LIST_MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {LIST_MAX_LIMIT}, got {limit}")
        after = _decode_token(request.arg("paginationToken"))
        namespace_name = request.arg("namespace") or ""
        with self.lock:
            namespace = index.namespace(namespace_name)
            ids = sorted(vid for vid in (namespace.rows if namespace else ()) if vid.startswith(prefix) and (after is None or vid > after))
        page = ids[:limit]
        out: dict[str, Any] = {"vectors": [{"id": vid} for vid in page], "namespace": namespace_name, "usage": {"readUnits": 1}}
        if len(ids) > limit:
            out["pagination"] = {"next": _encode_token(page[-1])}
        return out

    @route("POST", r"/data/(?P<index>[^/]+)/describe_index_stats")
    def describe_index_stats(self, request: Request) -> Response:
        return self._data(request, self._stats, body_required=False)

    def _stats(self, index: Index, body: dict[str, Any], request: Request) -> dict[str, Any]:
        if body.get("filter"):
            raise BadRequest("Serverless and starter indexes do not support describing index stats with metadata filtering.")
        with self.lock:
            namespaces = {(name or DEFAULT_NAMESPACE_NAME): {"vectorCount": len(ns)} for name, ns in index.namespaces.items() if len(ns)}
        stats = {
            "namespaces": namespaces,
            "dimension": index.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(ns["vectorCount"] for ns in namespaces.values()),
            "metric": index.metric,
            "vectorType": index.vector_type,
        }
        if index.vector_type == "sparse":
            del stats["dimension"]  # "Not specified if `sparse` index."
        return stats

    # -- helpers

    def _data(
        self, request: Request, handler: Callable[[Index, dict[str, Any], Request], dict[str, Any]], body_required: bool = True
    ) -> Response:
        with self.lock:
            index = self.indexes.get(request.params["index"])
        if index is None:
            return _status(404, f"Index {request.params['index']} not found")
        try:
            body = self._json(request)
            if body is None and not body_required:
                body = {}
            if not isinstance(body, dict):
                raise BadRequest("The request body must be a JSON object")
            return Response(200, handler(index, body, request))
        except BadRequest as exc:
            return _status(400, str(exc))

    @staticmethod
    def _json(request: Request) -> Any:
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The request body is not valid JSON") from None

    @staticmethod
    def _version(request: Request) -> str:
        version = request.headers.get("X-Pinecone-Api-Version") or DEFAULT_API_VERSION
        return version if version in API_VERSIONS else DEFAULT_API_VERSION


def _encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode("ascii")


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["after"])
    except (ValueError, KeyError, TypeError):
        raise BadRequest("Invalid pagination token") from None


def _sparse_values(raw: Any, what: str) -> dict[int, float]:
    """A ``SparseValues`` object as ``index -> value``; :class:`BadRequest` as the spec demands:
    an object with ``indices`` (unique uint32) and ``values`` (finite numbers) of one length,
    1 to 1,000 items."""
    if not isinstance(raw, dict) or not isinstance(raw.get("indices"), list) or not isinstance(raw.get("values"), list):
        raise BadRequest(f"{what} must be an object with 'indices' and 'values' arrays")
    indices, values = raw["indices"], raw["values"]
    if len(indices) != len(values):
        raise BadRequest(f"{what}: indices and values must have the same length, got {len(indices)} indices and {len(values)} values")
    if not indices:
        raise BadRequest(f"{what}: indices and values must not be empty")
    if len(indices) > MAX_SPARSE_NONZERO:
        raise BadRequest(f"{what}: sparse vectors can have at most {MAX_SPARSE_NONZERO} non-zero values, got {len(indices)}")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= MAX_SPARSE_INDEX for i in indices):
        raise BadRequest(f"{what}: indices must be integers between 0 and {MAX_SPARSE_INDEX}")
    if len(set(indices)) != len(indices):
        raise BadRequest(f"{what}: indices must be unique")
    if not all(_is_number(v) and np.isfinite(v) for v in values):
        raise BadRequest(f"{what}: values must be finite numbers")
    return {int(i): float(v) for i, v in zip(indices, values)}


def _sparse_out(stored: dict[int, float]) -> dict[str, list]:
    ordered = sorted(stored.items())
    return {"indices": [i for i, _ in ordered], "values": [v for _, v in ordered]}
