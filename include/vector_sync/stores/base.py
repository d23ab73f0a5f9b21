"""The vector store interface shared by LanceDB (embedded) and Pinecone (production)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator, Mapping, Sequence

from vector_sync.models import Hit, SearchFilter, VectorRecord


class VectorStore(ABC):
    """Upsert by id, delete by ids, query with metadata filters."""

    dimensions: int | None = None

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
        rule) is applied inside the store's query in every mode, never after it.
        Raises ValueError for a mode the store does not support or a missing vector/text.
        """

    @abstractmethod
    def count(self, source: str | None = None) -> int:
        """Number of vectors, optionally for one source."""

    @abstractmethod
    def ids(self, prefix: str = "") -> Iterator[str]:
        """Every stored chunk id starting with ``prefix``."""

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
