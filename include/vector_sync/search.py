"""Query -> hits, one per document, ranked for work content: used by the CLI and the plugin."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import datetime, timedelta, timezone

from vector_sync.embedders.base import Embedder
from vector_sync.models import SEARCH_MODES, Hit, SearchFilter
from vector_sync.query_understanding import understand
from vector_sync.stores.base import STOP_WORDS, VectorStore, content_terms, terms

log = logging.getLogger(__name__)

# Chunks fetched per wanted hit: several chunks of one document often rank together, and
# only the best of them is shown.
CANDIDATES_PER_HIT = 4
# Pinecone caps top_k at 10,000; stay well below when widening the candidate set.
MAX_CANDIDATES = 2_000
# A longer query is a pasted page: only its start is searched (about 1,000 tokens, well inside
# every embedder's input limit; the keyword index reads fewer still, see keyword_text).
MAX_QUERY_CHARS = 4_000

_WORD = re.compile(r"\w+")

# Work-content ranking (see rank_for_work). A title that holds every word of the query adds
# half of the best candidate's relevance; a partial share counts cubed (2 of 3 words: 0.15,
# 1 of 3: 0.02), so one shared word ("Deploy runbook" for "deploy failed on friday") barely
# moves a document.
TITLE_WEIGHT = 0.5
TITLE_SHARE_POWER = 3
# A primary artifact outranks a secondary mention whose relevance is at most this much higher:
# "they match equally", read with a margin, since scores of equal matches rarely tie exactly.
PRIMARY_MARGIN = 0.02
# Sources whose documents mention work recorded elsewhere: a worklog quotes its issue's
# title, a message discusses an issue, a page or a meeting. Jira issues, Notion pages and
# Fireflies meetings are the primary artifacts.
SECONDARY_SOURCES = frozenset({"tempo", "slack"})
# A document the question names by its identity — its own key ("BC-22", the native part of its
# id, when that holds a letter: bare numbers collide with dates and amounts) or its whole title
# — comes first: it is what was asked for, ahead of every worklog or message quoting it.
IDENTITY_WEIGHT = 2.0
# A question of this many words or more found word for word in a document names it too. On
# bench/search_quality.py (MiniLM, hybrid): exact identifiers 0.91 / 0.96 -> 0.95 / 1.00
# (recall@5 / top 3), overall 0.852 / 0.879 -> 0.865 / 0.896.
QUOTE_MIN_WORDS = 3
# A document of the kind the question names ("meetings Kofi organised", "tickets assigned to
# Bruno"; query_understanding.SOURCE_WORDS): worth half the best candidate's relevance, like a
# full title match. On bench/search_quality.py (wordllama, hybrid) recall@5 / MRR@10 were
# 0.678 / 0.668 without it, 0.678 / 0.682 at 0.25, 0.682 / 0.682 at 0.5, 0.687 / 0.700 at 1.0;
# not 1.0, which all but filters: "issue", "post" and "page" are ordinary words as well.
SOURCE_HINT_WEIGHT = 0.5
# A person the question names by full name who is the document's own actor — the Jira issue's
# assignee, the message's author, the meeting's organiser, the worklog's author — lifts it
# like a kind hint: "tickets assigned to Bruno Moreau" wants Bruno's issues, not the ones he
# reported or commented on; "what did Sara Holm post" her messages, not those naming her.
# Only for the kind asked, when one is: Bruno's worklogs are not "tickets assigned to Bruno".
# On bench/search_quality.py (MiniLM, hybrid) recall@5 / MRR@10 were 0.824 / 0.842 without it,
# 0.850 / 0.861 at 0.5 and 0.852 / 0.879 at 1.0 (people & time 0.86 -> 0.96, exact 0.89 -> 0.91).
ACTOR_FIELDS = ("assignee", "user_name", "author", "organizer")
ACTOR_WEIGHT = 1.0
# A question that names a Slack channel ("#bc-billing", "the arch-migration channel") asks for
# what was said there: the channel's messages rank above documents that only share its words
# (Jira's BC issues for "bc billing"). Same weight as the actor: a place, like a person, is an
# exact identifier the store's scores see only as words.
CHANNEL_WEIGHT = 1.0
# A secondary document that belongs to a primary artifact among the candidates — a worklog on
# the Jira issue the question is about (its ``issue_key``) — gains this share of that
# artifact's relevance, up to just below the artifact's own score, when the question asks for
# the secondary's kind: "the Jira ticket and the time spent on the JPY rounding bug" wants
# SUBS-31 and then its worklogs, whatever their own descriptions say, before worklogs on other
# issues that only share words. On bench/search_quality.py (MiniLM, hybrid) cross-source
# recall@5 went 0.939 -> 0.969 and overall 0.895 -> 0.901, alike at 0.5 and 1.0, no other kind
# moving; 1.0 because at 0.5 a vector leg that scores the issue below the mentions (the
# hashing embedder's) leaves the mentions first (tests/test_hybrid_search.py).
LINK_WEIGHT = 1.0
# How far below its primary artifact a lifted document stays: it follows the issue, never leads it.
LINK_BELOW = 0.001
# Metadata fields naming the primary artifact a document belongs to, and that artifact's source.
LINK_FIELDS = {"issue_key": "jira"}


def search(
    query: str,
    embedder: Embedder,
    store: VectorStore,
    flt: SearchFilter | None = None,
    top_k: int = 10,
    mode: str = "hybrid",
    now: datetime | None = None,
) -> list[Hit]:
    """The ``top_k`` best documents for ``query``, ranked by ``rank_for_work``.

    The question is read first (``query_understanding.understand``, relative to ``now``,
    default the current time): an unambiguous time phrase ("last week", "yesterday",
    "2026-11-18") narrows ``flt``'s dates inside the store's query and leaves the searched
    text; a word naming a kind of document ("meetings", "tickets") is a ranking hint, and a
    second store query narrowed to that kind (``kind_filter``) puts its best among the
    candidates.

    ``mode`` is one of ``SEARCH_MODES`` (see ``VectorStore.query``); "keyword" never calls
    the embedder. "hybrid" (the default) runs as "dense" on a store that does not serve it
    (``VectorStore.modes``), with a note in the log.

    Raises:
        ValueError: ``query`` is empty, ``top_k`` is not positive, ``mode`` is unknown or
            not served by ``store``, or a keyword search's query has no words.
    """
    if not query or not query.strip():
        raise ValueError("search query is empty")
    if top_k <= 0:
        raise ValueError(f"top_k must be positive, got {top_k}")
    if mode not in SEARCH_MODES:
        raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
    if mode not in store.modes:
        if mode != "hybrid":
            raise ValueError(f"{type(store).__name__} serves {', '.join(store.modes)} search, not {mode}")
        log.info("%s does not serve hybrid search; searching by vector alone", type(store).__name__)
        mode = "dense"
    text = query.strip()
    if len(text) > MAX_QUERY_CHARS:
        log.info("The query has %d characters; searching its first %d", len(text), MAX_QUERY_CHARS)
        text = text[:MAX_QUERY_CHARS]
    asked = understand(text, now or datetime.now(timezone.utc))
    if asked.since is not None:
        last_day = (asked.until - timedelta(days=1)).date() if asked.until else None
        log.info("The question is about %s to %s: searching that time only", asked.since.date(), last_day)
        flt = narrow_dates(flt or SearchFilter(), asked.since, asked.until)
        text = asked.text
    kind_flt = kind_filter(flt, asked.sources)
    vector = None if mode == "keyword" else embedder.embed([text])[0]
    wanted = min(top_k * CANDIDATES_PER_HIT, MAX_CANDIDATES)
    while True:
        chunks = store.query(vector, wanted, flt, text=text, mode=mode)
        if kind_flt is not None:  # the kind asked for among the candidates, however many others match
            chunks += store.query(vector, wanted, kind_flt, text=text, mode=mode)
        best = best_per_document(chunks)
        # Fewer documents than asked although the store had more chunks: widen and ask again.
        if len(best) >= top_k or len(chunks) < wanted or wanted >= MAX_CANDIDATES:
            return rank_for_work(best, text, asked.sources)[:top_k]
        wanted = min(wanted * 4, MAX_CANDIDATES)


def kind_filter(flt: SearchFilter | None, sources: frozenset[str]) -> SearchFilter | None:
    """``flt`` narrowed to the sources whose kind of document the question names, or None when
    that narrows nothing (no kind named, or ``flt`` already that narrow or excluding them).

    A person's many short worklogs can fill every candidate slot of "meetings Kofi organised";
    a second store query with this filter (access rule and all, inside the store) makes sure
    the meetings are candidates too, and the kind hint of ``rank_for_work`` can lift them.
    """
    base = flt or SearchFilter()
    kinds = sources & set(base.sources) if base.sources else sources
    if not kinds or kinds == set(base.sources):
        return None
    return dataclasses.replace(base, sources=tuple(sorted(kinds)))


def narrow_dates(flt: SearchFilter, since: datetime, until: datetime | None) -> SearchFilter:
    """``flt`` with its date range cut to [since, until): a question's time never widens it."""
    since = max(since, flt.since) if flt.since is not None else since
    if flt.until is not None:
        until = min(until, flt.until) if until is not None else flt.until
    return dataclasses.replace(flt, since=since, until=until)


def rank_for_work(hits: list[Hit], query: str, sources: frozenset[str] = frozenset()) -> list[Hit]:
    """Order one hit per document the way work content is looked for; scores become the rank's.

    The store ranks chunks by meaning and words, but not by what a title says or what kind of
    thing a document is. For each document (its best chunk), best first:

    - relevance: its store score as a share of the best candidate's (0..1; scores at or
      below 0 count as 0), so the rule is the same whether the store ranked by cosine,
      BM25 or fused ranks;
    - plus ``TITLE_WEIGHT`` x (the share of the query's words found in the title, or in the
      files shared in it: ``named_by``) to the power ``TITLE_SHARE_POWER``, so a title match
      is worth more than a body match: the Jira issue "Invoice PDF export times out" before
      the worklogs whose text quotes that title;
    - plus ``PRIMARY_MARGIN`` for a primary artifact (a Jira issue, Notion page or meeting),
      so when it and a secondary mention (a worklog, a Slack message,
      ``SECONDARY_SOURCES``) match equally, the primary one comes first;
    - plus ``IDENTITY_WEIGHT`` when the query names the document itself: its own key
      (``BC-22`` for ``jira:BC-22``) appears in the query, the query says its whole title, or
      its text holds the query word for word (``quotes``);
    - plus ``SOURCE_HINT_WEIGHT`` when its source is one of ``sources``, the kinds of
      document the question names;
    - plus ``ACTOR_WEIGHT`` when the question names its actor in full (``actor_named``);
    - plus ``CHANNEL_WEIGHT`` when the question names the channel it was posted in
      (``channel_named``);
    - for a secondary document of a kind the question names, plus ``LINK_WEIGHT`` x the
      relevance of the primary artifact it belongs to (``linked_primary``), when that is a
      candidate too, up to just below that artifact's own score.

    Ties keep the store's order. The filter and the access rule were applied by the store.
    """
    if not hits:
        return []
    top = max(hit.score for hit in hits)
    words = content_terms(query)
    asked = " ".join(_WORD.findall(query.casefold()))
    scores = []
    for hit in hits:
        relevance = max(hit.score, 0.0) / top if top > 0 else 0.0
        title = _title_share(words, named_by(hit))
        primary = hit.source not in SECONDARY_SOURCES
        score = relevance + TITLE_WEIGHT * title**TITLE_SHARE_POWER + (PRIMARY_MARGIN if primary else 0.0)
        score += IDENTITY_WEIGHT if names_document(query, words, hit) else 0.0
        score += SOURCE_HINT_WEIGHT if hit.source in sources else 0.0
        # The actor counts for the kind asked about: Bruno's worklogs are not "tickets assigned to Bruno".
        score += ACTOR_WEIGHT if (not sources or hit.source in sources) and actor_named(asked, hit) else 0.0
        score += CHANNEL_WEIGHT if channel_named(query, hit) else 0.0
        scores.append((score, relevance))
    primaries = {document_id(hit): scored for hit, scored in zip(hits, scores) if hit.source not in SECONDARY_SOURCES}
    ranked = []
    for order, (hit, (score, _)) in enumerate(zip(hits, scores)):
        linked = primaries.get(linked_primary(hit) or "") if hit.source in SECONDARY_SOURCES and hit.source in sources else None
        if linked is not None:  # a worklog of the issue asked about: lifted, but never past that issue
            score = max(score, min(score + LINK_WEIGHT * linked[1], linked[0] - LINK_BELOW))
        ranked.append((-score, order, dataclasses.replace(hit, score=round(score, 6))))
    ranked.sort(key=lambda entry: entry[:2])
    return [entry[2] for entry in ranked]


def linked_primary(hit: Hit) -> str | None:
    """The id of the primary artifact ``hit``'s document belongs to (``LINK_FIELDS``: a
    worklog's ``issue_key`` names ``jira:<key>``), or None."""
    for field, source in LINK_FIELDS.items():
        value = (hit.metadata or {}).get(field)
        if isinstance(value, str) and value:
            return f"{source}:{value}"
    return None


def actor_named(asked: str, hit: Hit) -> bool:
    """Whether ``asked`` (the question's words, case-folded, space-joined) holds the full name
    of ``hit``'s actor (``ACTOR_FIELDS``; an email's local part ``kofi.novak`` reads as
    ``kofi novak``). A single name is not enough: "Dana" is also a word in other questions."""
    for field in ACTOR_FIELDS:
        value = (hit.metadata or {}).get(field)
        if not isinstance(value, str) or not value:
            continue
        name = " ".join(_WORD.findall(value.split("@", 1)[0].replace(".", " ").casefold()))
        if " " in name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", asked):
            return True
    return False


def channel_named(query: str, hit: Hit) -> bool:
    """Whether ``query`` names the Slack channel ``hit`` was posted in: ``#name``, or the name
    next to the word "channel" ("the arch-migration channel", "channel bc-billing"). A bare
    name is not enough: "random" or "general" are also words of other questions."""
    value = (hit.metadata or {}).get("channel_name")
    if not isinstance(value, str) or not value:
        return False
    name, asked = re.escape(value.casefold()), query.casefold()
    return bool(
        re.search(rf"#{name}(?![\w-])", asked)
        or re.search(rf"(?<![\w#-]){name}(?![\w-])\s+channel\b", asked)
        or re.search(rf"\bchannel\s+{name}(?![\w-])", asked)
    )


def names_document(query: str, words: set[str], hit: Hit) -> bool:
    """Whether ``query`` names ``hit``'s document: its own key as a whole token, every content
    word of its title (a leading key aside) and no other, or the question's whole text, three
    words or more, word for word in the chunk (an error string, a rule quoted from a page)."""
    key = document_id(hit).split(":", 1)[-1]
    if any(c.isalpha() for c in key) and re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", query, re.IGNORECASE):
        return True
    if quotes(query, hit.text):
        return True
    title = set(terms(hit.title)) - STOP_WORDS
    return bool(title) and words in (title, title - set(terms(key)))


def quotes(query: str, text: str) -> bool:
    """Whether ``text`` holds ``query`` word for word (case, punctuation and spacing aside), for
    a query of at least ``QUOTE_MIN_WORDS`` words: short ones ("invoice export") are topics."""
    asked = _WORD.findall(query.casefold())
    if len(asked) < QUOTE_MIN_WORDS:
        return False
    return f" {' '.join(asked)} " in f" {' '.join(_WORD.findall(text.casefold()))} "


def named_by(hit: Hit) -> str:
    """What names ``hit``'s document: its title, and the files shared in it (a Slack message's
    ``files``: "migration-plan.xlsx, Migration plan, Excel Spreadsheet"), which people ask for
    as they would a title."""
    files = (hit.metadata or {}).get("files")
    if isinstance(files, list) and files:
        return "\n".join([hit.title or "", *(f for f in files if isinstance(f, str))])
    return hit.title or ""


def _title_share(words: set[str], title: str) -> float:
    if not words or not title:
        return 0.0
    return len(words & set(terms(title))) / len(words)


def best_per_document(hits: list[Hit]) -> list[Hit]:
    """Keep the highest-scoring chunk of each document, ordered by score (then id)."""
    best: dict[str, Hit] = {}
    for hit in hits:
        key = document_id(hit)
        if key not in best or hit.score > best[key].score:
            best[key] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.id))


def document_id(hit: Hit) -> str:
    """The document a chunk hit belongs to (``{document_id}#{n}`` ids)."""
    value = hit.metadata.get("document_id") if hit.metadata else None
    return str(value) if value else hit.id.rsplit("#", 1)[0]


def snippet(text: str, query: str, width: int = 160, title: str | None = None) -> str:
    """A one-line excerpt of a chunk around the first word of ``query`` found in it.

    Chunks start with their document's title line, which the result leaves out: ``title``
    when given (removed only if the text starts with it), else the first line of a multi-line
    text. Without a match the excerpt is the start of the text. Cuts are marked with "…".
    """
    if title is not None:
        if text.startswith(title + "\n"):
            text = text[len(title) + 1 :]
        elif text == title:
            text = ""
    elif "\n" in text:
        text = text.split("\n", 1)[1]
    body = " ".join(text.split())
    if len(body) <= width:
        return body

    position = 0
    words = sorted({w.lower() for w in _WORD.findall(query)}, key=len, reverse=True)
    # Prefer real words over one- and two-letter ones ("a", "of"), which match anywhere.
    for group in ([w for w in words if len(w) > 2], [w for w in words if len(w) <= 2]):
        if group:
            match = re.search(r"\b(?:" + "|".join(map(re.escape, group)) + r")", body, re.IGNORECASE)
            if match:
                position = match.start()
                break

    start = max(0, min(position - width // 4, len(body) - width))
    if start > 0:
        space = body.find(" ", start, position + 1)  # begin at a word, not inside one
        start = space + 1 if 0 <= space < position else start
    end = min(len(body), start + width)
    if end < len(body):
        space = body.rfind(" ", start + width // 2, end)
        end = space if space > 0 else end
    excerpt = body[start:end].strip()
    return ("…" if start > 0 else "") + excerpt + ("…" if end < len(body) else "")
