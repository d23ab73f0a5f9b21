"""The vector store interface shared by LanceDB (embedded) and Pinecone (production)."""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from vector_sync.models import Hit, SearchFilter, VectorRecord
from vector_sync.tokens import sanitize

# Keyword query hygiene (see keyword_text). A query is a question, not a document: past these
# bounds the extra words only cost time. Index tokenizers drop longer tokens (LanceDB: 40).
KEYWORD_MAX_CHARS = 2_000
KEYWORD_MAX_TERMS = 64
KEYWORD_MAX_TERM_CHARS = 40
# Letters and digits only: every query-syntax character (quotes, colons, brackets, operators,
# wildcards) and the underscore (tokenizers split on it too) separates words.
_KEYWORD_TERM = re.compile(r"[^\W_]+")


# Words too common to say what a text is about (search's title share, a keyword match's coverage).
STOP_WORDS = frozenset(
    "a an and are as at be but by can did do does for from has have how i in is it its me my no not of on or our "
    "out so that the their them there this to us was we were what when where which who why will with you your".split()
)


def terms(text: str) -> list[str]:
    """Lower-case words with a plain English plural folded ("exports" -> "export"; not a stop
    word: "this" and "does" stay)."""
    words = (w.casefold() for w in _KEYWORD_TERM.findall(text))
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") and w not in STOP_WORDS else w for w in words]


def content_terms(text: str) -> set[str]:
    """The distinct ``terms`` of ``text`` without stop words (all of them if only stop words)."""
    words = set(terms(text))
    return (words - STOP_WORDS) or words


def keyword_coverage(query: str, text: str) -> float:
    """The share of ``query``'s content terms found in ``text`` (0..1; 0 for a query without words)."""
    words = content_terms(query)
    return len(words & set(terms(text))) / len(words) if words else 0.0


def keyword_text(text: str | None) -> str:
    """``text`` reduced to what a keyword index can match: its distinct words, space-separated.

    User text may hold query syntax, quotes, control characters, odd unicode or a whole pasted
    page; none of it may reach an index's query parser. NFKC folds look-alike characters
    (full-width letters, ligatures), words are runs of letters and digits, the first
    ``KEYWORD_MAX_TERMS`` distinct ones (case-insensitively) are kept, in order.

    Raises:
        ValueError: nothing searchable is left (only punctuation or symbols).
    """
    cleaned = unicodedata.normalize("NFKC", sanitize(str(text or "")[: KEYWORD_MAX_CHARS * 2]))[:KEYWORD_MAX_CHARS]
    terms: dict[str, str] = {}
    for match in _KEYWORD_TERM.finditer(cleaned):
        term = match.group()
        if len(term) <= KEYWORD_MAX_TERM_CHARS:
            terms.setdefault(term.casefold(), term)
        if len(terms) == KEYWORD_MAX_TERMS:
            break
    if not terms:
        raise ValueError(f"the query {str(text or '')[:80]!r} has no words to match by keyword")
    return " ".join(terms.values())


class VectorStore(ABC):
    """Upsert by id, delete by ids, query with metadata filters."""

    dimensions: int | None = None
    # The search modes (models.SEARCH_MODES) this store's query serves; search() falls back
    # from "hybrid" to "dense" on a store without it.
    modes: ClassVar[tuple[str, ...]] = ("dense",)

    @property
    def store_key(self) -> str | None:
        """Where this store writes (kind, table or index, namespace), recorded on every ledger row
        so a switch of backend is noticed (``status``: needs rebuild); None: not known."""
        return None

    def common_dimension(self, records: Sequence[VectorRecord]) -> int:
        """The records' one vector dimension; ValueError before any write when they mix
        dimensions, are empty, or differ from the store's."""
        dims = {len(r.values) for r in records}
        if len(dims) != 1:
            raise ValueError(f"records mix vector dimensions {sorted(dims)}")
        dim = dims.pop()
        if dim == 0:
            raise ValueError("records have empty vectors")
        if self.dimensions is not None and dim != self.dimensions:
            raise ValueError(f"records have {dim}-dimensional vectors, the store expects {self.dimensions}")
        return dim

    @abstractmethod
    def upsert(self, records: Sequence[VectorRecord]) -> int:
        """Insert or replace records by id; returns how many were written."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Delete by chunk id (missing ids are fine); returns how many ids were sent."""

    @abstractmethod
    def query(
        self,
        vector: Sequence[float] | None,
        top_k: int,
        flt: SearchFilter | None = None,
        *,
        text: str | None = None,
        mode: str = "dense",
    ) -> list[Hit]:
        """The chunks that best match, among those passing ``flt``, best first.

        ``mode`` is one of ``models.SEARCH_MODES``: "dense" ranks by ``vector``; "keyword" ranks
        ``text`` against chunk text and title with a keyword index (``vector`` may be None);
        "hybrid" fuses both inside the store. ``flt`` (sources, projects, dates, the access
        rule) is applied inside the store's query in every mode, never after it. ``text`` is
        cleaned with ``keyword_text``; when nothing is left, "keyword" raises ValueError and
        "hybrid" ranks by ``vector`` alone.
        Raises ValueError for a mode the store does not support or a missing vector/text.
        """

    @abstractmethod
    def count(self, source: str | None = None) -> int:
        """Number of vectors, optionally for one source."""

    @abstractmethod
    def ids(self, prefix: str = "") -> Iterator[str]:
        """Every stored chunk id starting with ``prefix``."""

    @abstractmethod
    def fetch(self, ids: Sequence[str]) -> list[VectorRecord]:
        """The stored records of ``ids`` (vector, text and metadata as written; unknown ids are
        absent), for copying an index to another store without embedding again (``rebuild``)."""

    def index_vectors(self, retrain: bool = False) -> dict[str, Any]:
        """Build or retrain this store's vector index where it keeps one itself (the embedded
        store); a hosted index (Pinecone) maintains its own. Returns what was done."""
        return {"vector_index": "managed", "reason": f"{type(self).__name__} maintains its own index"}

    def compact(self) -> dict[str, Any]:
        """Merge small files and drop old versions where the store keeps them itself."""
        return {"compacted": False, "reason": f"{type(self).__name__} manages its own storage"}

    def update_access(
        self,
        document_ids: Sequence[str],
        access_type: str,
        access_list: Sequence[str],
        where: Mapping[str, str] | None = None,
    ) -> int:
        """Set ``access_type``/``access_list`` on every chunk of ``document_ids``, keeping the
        vectors: a permission change costs no embedding. ``where`` (metadata field -> value,
        e.g. ``{"source": "slack", "channel_id": "C1"}``) selects the same chunks in one
        request where the store can filter on metadata; stores that cannot use the ids.
        Returns how many chunks matched."""
        raise NotImplementedError(f"{type(self).__name__} cannot update access in place")
