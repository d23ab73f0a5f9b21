"""BM25 as sparse vectors, computed here (no hosted model), for Pinecone's sparse-dense index.

BM25 scores a chunk d for a query q as ``sum over t in q of idf(t) * tf(t,d) * (k1 + 1) /
(tf(t,d) + k1 * (1 - b + b * |d| / avgdl))``. Pinecone ranks by a dot product, so the formula is
split in two halves whose product is that sum (up to a constant per query, which keeps the order):

- document side (written once, with the chunk): ``tf / (tf + k1 * (1 - b + b * |d| / avgdl))``,
  the saturated, length-normalised term frequency, in [0, 1);
- query side (at search time, from the collection's current statistics): ``idf(t) / sum idf``,
  so the sparse score of any chunk lies in [0, 1) like a cosine, which is what makes the
  convex combination with the dense score (``alpha``) meaningful.

``avgdl`` is the collection's average at the time a chunk is written: chunk lengths are bounded
by the chunker, so it moves little once a collection has a few hundred chunks, and re-encoding
every stored chunk when it moves would cost a full re-upsert (pinecone-text's BM25Encoder fixes
it at fit time for the same reason). ``N`` and the document frequencies change with every
upsert and delete, and they are read per query, so idf is always current.

Terms: NFKC-normalised, case-folded word runs (``\\w+``, any script); identifiers joined by
``-``, ``_`` or ``.`` (``SUBS-123``, ``invoice.pdf``, ``v2.3.1``) are a term of their own *and*
their parts, so an exact identifier outranks chunks holding its pieces apart. Scripts written
without spaces (Han, kana) are split per character. A short English stop list is dropped.
Two more fields make titles and identifiers count (BM25F-style: a field's terms are terms of
their own, with their own document frequency, and no length normalisation, b = 0): the
chunk's *title* terms, and one *identity* term, its document's native id (``SUBS-123`` for
``jira:SUBS-123``). Without them a short worklog quoting an issue's key or title outranks the
long issue itself (BM25 favours short chunks); with them the issue also matches in its title
and identity fields. A query adds the title-field form of each of its terms and the identity
form of each of its word runs, keeping only those the collection has.
Each term maps to a uint32 index by a stable hash (BLAKE2b, 4 bytes): no vocabulary to keep,
the same index in every process; a collision (one in ~4 billion per pair) only merges two terms.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

# BM25's usual constants (Robertson & Zaragoza; Lucene's defaults).
K1 = 1.2
B = 0.75
# SparseValues in Pinecone's 2025-10 data-plane spec: indices and values at most 1,000 items
# ("Max non-zero values per sparse vector: 1000" in the docs).
MAX_NONZERO = 1000
# A run longer than this is no word anyone types (base64, hex dumps): it is dropped.
MAX_TERM_CHARS = 64

_WORD = re.compile(r"\w+(?:[-_.]\w+)*")
_PART = re.compile(r"[^\W_]+|_+")
# Han, Hiragana, Katakana: no spaces between words, so each character is a term.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# BM25F weight of the identity field: a query word that *is* a document's id says which
# document is meant more strongly than any mention of it does (measured: README).
IDENTITY_BOOST = 3.0
# Prefixes of the title and identity fields: a control character, which no text term contains.
TITLE_FIELD = "\x1ft:"
IDENTITY_FIELD = "\x1fid:"
STOPWORDS = frozenset(
    "a an and are as at be but by do does did for from has have had how i if in into is it its "
    "of on or our so that the their them then there these they this to was we were what when "
    "where which who why will with you your".split()
)


class SparseVector(NamedTuple):
    """Pinecone's ``SparseValues``: sorted unique uint32 indices and their float weights."""

    indices: list[int]
    values: list[float]

    def as_dict(self) -> dict[str, list]:
        return {"indices": self.indices, "values": self.values}

    def scaled(self, factor: float) -> SparseVector:
        return SparseVector(self.indices, [v * factor for v in self.values])


def terms(text: str) -> list[str]:
    """The BM25 terms of ``text``, in order (repeats kept: they are the term frequencies)."""
    if not text:
        return []
    normal = unicodedata.normalize("NFKC", text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")).casefold()
    unspaced = _UNSPACED.search(normal) is not None
    out: list[str] = []
    for word in _WORD.findall(normal):
        if word.isalnum() and not unspaced:  # the common case: one plain word
            if word not in STOPWORDS and len(word) <= MAX_TERM_CHARS:
                out.append(word)
            continue
        parts = [p for p in _PART.findall(word) if p.strip("_")]
        if len(parts) > 1 or (parts and parts[0] != word):
            _add(out, word)
        for part in parts:
            if unspaced and _UNSPACED.search(part):
                for piece in _split_unspaced(part):
                    _add(out, piece)
            else:
                _add(out, part)
    return out


def _split_unspaced(part: str) -> list[str]:
    """Han/kana characters one by one; runs of other characters (latin, digits) stay whole."""
    pieces, run = [], ""
    for char in part:
        if _UNSPACED.match(char):
            if run:
                pieces.append(run)
                run = ""
            pieces.append(char)
        else:
            run += char
    if run:
        pieces.append(run)
    return pieces


def _add(out: list[str], term: str) -> None:
    if term and term not in STOPWORDS and len(term) <= MAX_TERM_CHARS:
        out.append(term)


@lru_cache(maxsize=200_000)
def term_index(term: str) -> int:
    """The term's uint32 sparse index (stable across processes and versions)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8", "surrogatepass"), digest_size=4).digest(), "little")


class TermCounts(NamedTuple):
    """A chunk's terms as the statistics count them: its text's length, term index ->
    frequency (title and identity fields included), and which indices are field terms
    (weighted without length normalisation)."""

    length: int
    frequencies: dict[int, int]
    fields: frozenset[int] = frozenset()


def identity_index(native_id: str) -> int | None:
    """The identity term of a document's native id (``SUBS-123``), None when it has none."""
    key = unicodedata.normalize("NFKC", native_id or "").strip().casefold()
    return term_index(IDENTITY_FIELD + key) if key else None


def count_terms(text: str, identity: str | None = None, title: str | None = None) -> TermCounts:
    """``text``'s terms, plus the title field's (``title``) and the identity term of a
    document's native id (``identity``)."""
    found = terms(text)
    frequencies = dict(Counter(term_index(t) for t in found))
    fields = {term_index(TITLE_FIELD + t) for t in terms(title or "")}
    index = identity_index(identity) if identity else None
    if index is not None:
        fields.add(index)
    for field in fields:
        frequencies[field] = 1
    return TermCounts(len(found), frequencies, frozenset(fields))


@dataclass(frozen=True)
class CollectionStats:
    """What BM25 needs of the whole collection: chunks, their summed length, and (per query)
    the document frequency of each query term."""

    chunk_count: int = 0
    total_length: int = 0

    @property
    def average_length(self) -> float:
        return self.total_length / self.chunk_count if self.chunk_count > 0 else 0.0


def document_vector(counts: TermCounts, average_length: float, k1: float = K1, b: float = B) -> SparseVector | None:
    """The document half of BM25 for one chunk (None when it has no terms).

    Over ``MAX_NONZERO`` distinct terms, the most frequent are kept (ties: the lower index, an
    arbitrary but stable choice); chunks of the default 400 tokens stay far below it.
    """
    if not counts.frequencies:
        return None
    avgdl = average_length if average_length > 0 else float(counts.length or 1)
    norm = k1 * (1.0 - b + b * counts.length / avgdl)
    items = sorted(counts.frequencies.items(), key=lambda kv: (kv[0] not in counts.fields, -kv[1], kv[0]))[:MAX_NONZERO]
    items.sort()
    return SparseVector([i for i, _ in items], [tf / (tf + (k1 if i in counts.fields else norm)) for i, tf in items])


def idf(document_frequency: int, chunk_count: int) -> float:
    """BM25's idf in Lucene's non-negative form: ``ln(1 + (N - df + 0.5) / (df + 0.5))``."""
    df = min(max(int(document_frequency), 0), max(int(chunk_count), 0))
    return math.log(1.0 + (chunk_count - df + 0.5) / (df + 0.5))


def query_terms(text: str) -> list[int]:
    """The distinct term indices of a query (a repeated query word counts once)."""
    return sorted({term_index(t) for t in terms(text)})


def query_field_terms(text: str) -> dict[int, float]:
    """The field forms of a query and their boosts: each term in the title field (1), each
    whole word run (``SUBS-123``, ``4201``) as an identity (``IDENTITY_BOOST``). Keep only
    those the collection has (document frequency > 0) before weighting: the others match
    nothing and would only dilute."""
    normal = unicodedata.normalize("NFKC", text or "").casefold()
    fields = {term_index(TITLE_FIELD + t): 1.0 for t in terms(text)}
    for match in _WORD.finditer(normal):
        index = identity_index(match.group()) if len(match.group()) <= MAX_TERM_CHARS else None
        if index is not None:
            fields[index] = IDENTITY_BOOST
    return fields


def query_vector(
    indices: Sequence[int], frequencies: Mapping[int, int], chunk_count: int, boosts: Mapping[int, float] | None = None
) -> SparseVector | None:
    """The query half of BM25: idf per query term (times its field's boost, BM25F's field
    weight), normalised to sum 1 (None: no terms)."""
    boosts = boosts or {}
    weights = [(i, idf(frequencies.get(i, 0), chunk_count) * boosts.get(i, 1.0)) for i in sorted(set(indices))][:MAX_NONZERO]
    total = sum(w for _, w in weights)
    if not weights or total <= 0:
        return None
    return SparseVector([i for i, _ in weights], [w / total for _, w in weights])


def dot(query: SparseVector, document: SparseVector) -> float:
    """The sparse dot product Pinecone ranks by (for tests and the simulator's checks)."""
    weights = dict(zip(document.indices, document.values))
    return sum(v * weights.get(i, 0.0) for i, v in zip(query.indices, query.values))
