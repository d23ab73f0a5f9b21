"""Production backends at the APIs' limits: 50,000 chunks embedded (OpenAI) and upserted (Pinecone).

The sandbox runs in its own process (``vector-sync sandbox serve``), as in bench/run.py; this
process streams synthetic chunks of realistic length (200-500 cl100k tokens, a title line and
flat metadata like the chunker's) through ``pack_requests`` -> ``OpenAIEmbedder.embed_matrix`` ->
``PineconeStore.upsert`` with the real SDKs, keeping memory bounded (one embedding request and
one upsert buffer at a time). The last line printed is JSON:

{"bench": "backends", "items": N, "items_per_min": X, "requests": R, "min_requests": M, "peak_rss_mb": P, ...}

``items_per_min`` counts the backends' time (embedding and upserting, waits included), not
the making of the synthetic chunks (``generate_seconds``: text and token counts, which the
chunker does in a real run).

``requests`` = embedding + upsert requests, counted from the sandbox's ``/_sandbox/log`` (its
per-API totals over the run, less the one ``describe_index_stats`` the store makes to check the
index dimension). ``min_requests`` = max(ceil(tokens / 300k), ceil(inputs / 2,048)) for the
embeddings plus max(ceil(vectors / 1,000), ceil(upsert bytes / 2 MB)) for the upserts.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from run import sandbox_server  # bench/run.py: the same sandbox start-up as every line

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "sandbox-token"
INDEX = "bench"
EPOCH = 1_763_640_000  # timestamps spread over the 30 days before this
# Records handed to the store per upsert call: large enough that the store's own packing to
# 2 MB requests wastes at most one partial request per call, small enough to stay ~30 MB.
UPSERT_BUFFER = 5_000


def sandbox_log(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_sandbox/log", timeout=10) as response:
        return json.loads(response.read())


def vocabulary(rng: random.Random, size: int = 6_000) -> list[str]:
    """Word-like strings (common English words plus made-up terms, ids and numbers)."""
    common = (
        "the a to of and in is for on that with as it be this are by we from at will was not have "
        "deploy release billing customer invoice renewal incident review meeting sprint ticket team "
        "api service database migration dashboard latency error fix test plan roadmap budget"
    ).split()
    syllables = ["ka", "lo", "mi", "ran", "tor", "vel", "sen", "dra", "qui", "zen", "pol", "ber", "nex", "ti", "sa"]
    words = list(common)
    while len(words) < size:
        kind = rng.random()
        if kind < 0.8:
            words.append("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
        elif kind < 0.9:
            words.append(f"{rng.choice(['SUBS', 'BC', 'ARCH'])}-{rng.randint(1, 9999)}")
        else:
            words.append(str(rng.randint(0, 100_000)))
    return words


class ZipfText:
    """Word-like text with the repetition of real text (Zipf over ``vocabulary``), seeded."""

    def __init__(self, seed: int = 7) -> None:
        words = vocabulary(random.Random(seed))
        self.words = np.asarray(words)
        ranks = np.arange(1, len(words) + 1)
        self.cdf = np.cumsum(1.0 / ranks) / (1.0 / ranks).sum()
        self.picks = np.random.default_rng(seed)

    def sample(self, k: int) -> str:
        """``k`` words (about 1.9 cl100k tokens each)."""
        index = np.minimum(np.searchsorted(self.cdf, self.picks.random(k)), len(self.words) - 1)
        return " ".join(self.words[index])


class SyntheticChunks:
    """Chunks as the chunker makes them: a title line, 200-500 tokens, flat metadata.

    Iterating yields them one at a time; ``seconds`` is the time spent making them (text and
    token counts: the chunker's work in a real run), left out of the backends' throughput.
    """

    def __init__(self, count: int, seed: int = 7) -> None:
        self.count = count
        self.seed = seed
        self.seconds = 0.0

    def __iter__(self) -> Iterator[dict]:
        from vector_sync.tokens import count_tokens

        rng = random.Random(self.seed)
        vocabulary(rng)  # the same draws as before ZipfText existed: the same chunks
        sample = ZipfText(self.seed).sample

        people = [f"person{i}@example.com" for i in range(40)]
        for i in range(self.count):
            started = time.perf_counter()
            doc, part = divmod(i, 4)
            title = f"Document {doc}: " + sample(5)
            body = sample(max(1, round(rng.randint(200, 500) / 1.9)))  # ~1.9 cl100k tokens per word
            text = f"{title}\n{body}."
            private = rng.random() < 0.2
            chunk = {
                "id": f"bench:DOC-{doc}#{part}",
                "document_id": f"bench:DOC-{doc}",
                "text": text,
                "tokens": count_tokens(text),
                "metadata": {
                    "source": "bench",
                    "document_id": f"bench:DOC-{doc}",
                    "title": title,
                    "url": f"https://example.com/docs/{doc}",
                    "chunk_index": part,
                    "projects": [rng.choice(["SUBS", "BC", "ARCH"])],
                    "access_type": "private" if private else "all",
                    "access_list": rng.sample(people, 3) if private else [],
                    "timestamp_epoch": EPOCH - rng.randint(0, 30 * 86_400),
                },
            }
            self.seconds += time.perf_counter() - started
            yield chunk


def run(url: str, items: int) -> dict:
    from pinecone import Pinecone

    from vector_sync.embedders.base import pack_requests
    from vector_sync.embedders.openai import OpenAIEmbedder, make_client
    from vector_sync.models import VectorRecord
    from vector_sync.stores.pinecone import PineconeStore, create_index

    embedder = OpenAIEmbedder(make_client(f"{url}/openai/v1", TOKEN))
    pc = Pinecone(api_key=TOKEN, host=f"{url}/pinecone")
    store = PineconeStore(pc.Index(host=create_index(pc, INDEX, embedder.dimensions)))

    before = sandbox_log(url)
    started = time.perf_counter()
    buffer: list[VectorRecord] = []
    inputs = 0
    chunks = SyntheticChunks(items)
    for request in pack_requests(chunks, lambda c: c["tokens"], embedder.max_batch_inputs, embedder.max_batch_tokens):
        vectors = embedder.embed_matrix([c["text"] for c in request])  # float32 rows, as the pipeline holds them
        inputs += len(request)
        buffer.extend(VectorRecord(c["id"], c["document_id"], v, c["text"], c["metadata"]) for c, v in zip(request, vectors))
        if len(buffer) >= UPSERT_BUFFER:
            store.upsert(buffer)
            buffer = []
    if buffer:
        store.upsert(buffer)
    wall = time.perf_counter() - started
    elapsed = wall - chunks.seconds  # the backends' share: embedding and upserting
    after = sandbox_log(url)

    embedding_requests = after.get("openai", 0) - before.get("openai", 0)
    upsert_requests = after.get("pinecone", 0) - before.get("pinecone", 0) - 1  # less the dimension check
    assert embedding_requests == embedder.requests_made, (embedding_requests, embedder.requests_made)
    assert upsert_requests == store.requests_made, (upsert_requests, store.requests_made)
    min_embedding = max(math.ceil(embedder.tokens_used / embedder.max_batch_tokens), math.ceil(inputs / embedder.max_batch_inputs))
    min_upsert = max(math.ceil(inputs / store.upsert_max_vectors), math.ceil(store.bytes_sent / store.upsert_max_bytes))
    stored = store.count()
    assert stored == inputs, (stored, inputs)
    requests = embedding_requests + upsert_requests
    minimum = min_embedding + min_upsert
    return {
        "bench": "backends",
        "items": inputs,
        "items_per_min": round(inputs / elapsed * 60, 1),
        "seconds": round(elapsed, 2),
        "generate_seconds": round(chunks.seconds, 2),
        "requests": requests,
        "min_requests": minimum,
        "requests_ratio": round(requests / minimum, 3),
        "embedding_requests": embedding_requests,
        "min_embedding_requests": min_embedding,
        "upsert_requests": upsert_requests,
        "min_upsert_requests": min_upsert,
        "tokens": embedder.tokens_used,
        "upsert_mb": round(store.bytes_sent / 1e6, 1),
        "dimensions": embedder.dimensions,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--sandbox-url", help="use a running sandbox instead of starting one")
    args = parser.parse_args()

    if args.sandbox_url:
        emit(json.dumps(run(args.sandbox_url.rstrip("/"), args.items)))
        return 0
    with sandbox_server() as url:
        emit(f"# backends: {args.items:,} chunks through OpenAI + Pinecone simulators at {url}")
        emit(json.dumps(run(url, args.items)))
    return 0


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
