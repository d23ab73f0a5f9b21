"""Notion API simulator (Notion-Version 2025-09-03) and its sample pages.

Routes: ``POST /v1/search``, ``GET /v1/blocks/{id}/children``, ``GET /v1/blocks/{id}``,
``GET /v1/pages/{id}``, ``GET /v1/data_sources/{id}``, ``GET /v1/databases/{id}``. Shapes follow
the recorded responses in ``reference/vendor/notion`` (checked by the tests): page and block
objects, ``{"object": "list", ...}`` envelopes, ``{"object": "error", ...}`` bodies.

The sample is a wiki of the fictional company: Engineering > project hubs (SUBS, BC, ARCH)
> pages; a long runbook (>100 blocks: children paging), a gallery of every block type, a page
nested ten levels deep, an Incidents database whose rows are pages, one trashed page (left out
of search, as Notion does), and
``40 x scale`` meeting/design pages spread over the workspace's days, several in every recent
hour, and a page nesting 30 levels deep (toggles in a column) holding a synced block whose
duplicate sits inside its original (a cycle for a naive reader). Timestamps have minute precision, as Notion's do.

People's edits (``edit_page``: a page's first paragraph gets new text) and new pages
(``create_page``) change this simulator's own copy of the sample, so retrieving the page and
its blocks, and search (newest edit first), show them; ``sandbox.webhooks`` sends the events.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.server import Request, Response, Simulator, route
from sandbox.workspace import Person, Workspace

NOTION_VERSION = "2025-09-03"
MAX_PAGE_SIZE = 100
# Search "is not optimized for ... immediate and complete results. Search indexing is not
# immediate", and "the index may change as your integration iterates":
# https://developers.notion.com/reference/search-optimizations-and-limitations
# Pages in the trash are not searched: "in_trash ... was and remains excluded by default"
# (notion-sdk-js release notes, the 2025-09-03 upgrade). Retrieving the page still shows it.
SEARCH_LIMITS = "https://developers.notion.com/reference/search-optimizations-and-limitations"
# Places a search result may stray from its last_edited_time rank by default (order not promised).
ORDER_JITTER = 2
# Levels of the sample's deepest chain (toggles in a column): far past any fixed depth limit.
DEEP_CHAIN = 30
_ID = r"(?P<id>[0-9a-fA-F-]{32,36})"
_ERROR_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "restricted_resource",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    502: "internal_server_error",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_TOPICS = [
    "webhook retries",
    "proration rules",
    "invoice PDFs",
    "dunning emails",
    "tax rounding",
    "plan upgrades",
    "usage metering",
    "refund flow",
    "ledger export",
    "trial expiry",
]
_WORDS = (
    "the team agreed to ship the change behind a flag and review the dashboards after the "
    "rollout while support watches the queue for customer reports about billing dates"
).split()


@dataclass
class NotionData:
    """Everything the simulator serves; tests read it for expected ids."""

    pages: dict[str, dict] = field(default_factory=dict)
    blocks: dict[str, dict] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)  # page/block id -> child block ids
    databases: dict[str, dict] = field(default_factory=dict)
    data_sources: dict[str, dict] = field(default_factory=dict)
    named: dict[str, str] = field(default_factory=dict)  # role ("runbook", "gallery", ...) -> page id
    search_order: list[str] = field(default_factory=list)  # newest last_edited_time first

    def title(self, page_id: str) -> str:
        prop = next(p for p in self.pages[page_id]["properties"].values() if p["type"] == "title")
        return "".join(t["plain_text"] for t in prop["title"])

    def copy(self) -> NotionData:
        """A copy whose tables can change without touching this one (objects are replaced,
        never changed in place, so they stay shared)."""
        return replace(
            self,
            pages=dict(self.pages),
            blocks=dict(self.blocks),
            children=dict(self.children),
            named=dict(self.named),
            search_order=list(self.search_order),
        )

    def touched(self, page_id: str) -> None:
        """Search lists the page first now: its edit is the newest."""
        self.search_order = [page_id, *(p for p in self.search_order if p != page_id)]


def generate(ws: Workspace) -> NotionData:
    return _Builder(ws).build()


# ------------------------------------------------------------------ block specs
def rt(text: str, href: str | None = None, code: bool = False) -> list[dict]:
    return [_text_item(text, href, code)]


def _text_item(text: str, href: str | None = None, code: bool = False) -> dict:
    return {
        "type": "text",
        "text": {"content": text, "link": {"url": href} if href else None},
        "annotations": {"bold": False, "italic": False, "strikethrough": False, "underline": False, "code": code, "color": "default"},
        "plain_text": text,
        "href": href,
    }


def _mention_user(person: Person, user_id: str) -> dict:
    item = _text_item("@" + person.name)
    del item["text"]
    item.update(
        type="mention",
        mention={
            "type": "user",
            "user": {
                "object": "user",
                "id": user_id,
                "name": person.name,
                "avatar_url": None,
                "type": "person",
                "person": {"email": person.email},
            },
        },
    )
    return item


def B(kind: str, text: str | list | None = None, children: list | None = None, **body: Any) -> dict:
    """A block spec: ``{"type", kind: body, "children"}`` (ids and times are added on build)."""
    if text is not None:
        body = {"rich_text": rt(text) if isinstance(text, str) else text, **body}
    if kind == "paragraph":  # 2025-09-03 paragraphs carry an icon (null) before their colour
        body.setdefault("icon", None)
    if kind in ("paragraph", "bulleted_list_item", "numbered_list_item", "toggle", "quote", "to_do", "callout"):
        body.setdefault("color", "default")
    if kind.startswith("heading_"):
        body = {"rich_text": body["rich_text"], "is_toggleable": bool(children), "color": "default"}
    return {"type": kind, kind: body, "children": children or []}


def table(rows: list[list[str]], header: bool = True) -> dict:
    cells = [B("table_row", cells=[rt(c) for c in row]) for row in rows]
    return B("table", children=cells, table_width=len(rows[0]), has_column_header=header, has_row_header=False)


class _Builder:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.rng = ws.rng("notion")
        self.data = NotionData()
        self.user_ids = {p.email: self.new_id() for p in ws.people}

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def user(self, person: Person | None = None) -> dict:
        person = person or self.rng.choice(self.ws.people)
        return {"object": "user", "id": self.user_ids[person.email]}

    def at(self, minutes_ago: float) -> datetime:
        return (self.ws.anchor - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)

    # -------------------------------------------------------------- objects
    def page(
        self,
        title: str,
        parent: dict | str | None,
        edited: datetime,
        content: list,
        *,
        trashed: bool = False,
        properties: dict | None = None,
        role: str | None = None,
    ) -> str:
        page_id = self.new_id()
        created = edited - timedelta(hours=self.rng.randint(1, 48))
        created = max(created, self.ws.start)
        parent = self._parent(parent)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")
        self.data.pages[page_id] = {
            "object": "page",
            "id": page_id,
            "created_time": _ts(created),
            "last_edited_time": _ts(edited),
            "created_by": self.user(),
            "last_edited_by": self.user(),
            "cover": None,
            "icon": None,
            "parent": parent,
            "in_trash": trashed,
            "is_archived": False,
            "is_locked": False,
            "properties": properties or {"title": {"id": "title", "type": "title", "title": rt(title)}},
            "url": f"https://app.notion.com/p/{slug}-{page_id.replace('-', '')}",
            "public_url": None,
            "archived": trashed,
        }
        self.data.children[page_id] = [self.block(spec, {"type": "page_id", "page_id": page_id}, edited) for spec in content]
        if not trashed and parent["type"] in ("page_id", "block_id"):  # the parent shows a child_page line
            holder = parent[parent["type"]]
            self.block(
                {"type": "child_page", "child_page": {"title": title}, "children": []},
                _block_parent(holder, self.data),
                edited,
                block_id=page_id,
                under=holder,
            )
        if role:
            self.data.named[role] = page_id
        return page_id

    def _parent(self, parent: dict | str | None) -> dict:
        if parent is None:
            return {"type": "workspace", "workspace": True}
        if isinstance(parent, dict):
            return parent
        if parent in self.data.blocks and parent not in self.data.pages:
            return {"type": "block_id", "block_id": parent}
        return {"type": "page_id", "page_id": parent}

    def block(self, spec: dict, parent: dict, edited: datetime, *, block_id: str | None = None, under: str | None = None) -> str:
        block_id = block_id or self.new_id()
        kind = spec["type"]
        kids = spec.get("children") or []
        self.data.blocks[block_id] = {
            "object": "block",
            "id": block_id,
            "parent": parent,
            "created_time": _ts(edited),
            "last_edited_time": _ts(edited),
            "created_by": self.user(),
            "last_edited_by": self.user(),
            "has_children": bool(kids),
            "in_trash": False,
            "type": kind,
            kind: spec[kind],
            "archived": False,
        }
        if under is not None:
            self.data.children.setdefault(under, []).append(block_id)
        if kids:
            self.data.children[block_id] = [self.block(k, {"type": "block_id", "block_id": block_id}, edited) for k in kids]
        return block_id

    def database(self, title: str, parent_page: str, edited: datetime, properties: dict) -> tuple[str, str]:
        db_id, ds_id = self.new_id(), self.new_id()
        common = {
            "created_time": _ts(self.ws.start),
            "last_edited_time": _ts(edited),
            "created_by": self.user(),
            "last_edited_by": self.user(),
            "icon": None,
            "cover": None,
            "in_trash": False,
            "archived": False,
            "url": f"https://app.notion.com/p/{db_id.replace('-', '')}",
            "public_url": None,
        }
        self.data.databases[db_id] = {
            "object": "database",
            "id": db_id,
            "title": rt(title),
            "description": [],
            "is_inline": False,
            "is_locked": False,
            "parent": {"type": "page_id", "page_id": parent_page},
            "data_sources": [{"id": ds_id, "name": title}],
            **common,
        }
        self.data.data_sources[ds_id] = {
            "object": "data_source",
            "id": ds_id,
            "title": rt(title),
            "description": [],
            "parent": {"type": "database_id", "database_id": db_id},
            "database_parent": {"type": "page_id", "page_id": parent_page},
            "properties": properties,
            **common,
        }
        self.block(
            {"type": "child_database", "child_database": {"title": title}, "children": []},
            {"type": "page_id", "page_id": parent_page},
            edited,
            block_id=db_id,
            under=parent_page,
        )
        return db_id, ds_id

    # -------------------------------------------------------------- content
    def build(self) -> NotionData:
        ws, old = self.ws, self.ws.start + timedelta(hours=2)
        eng = self.page("Engineering", None, old, [B("paragraph", "How the engineering team works.")], role="root")
        hubs = {}
        for project in ws.projects:
            hubs[project.key] = self.page(
                f"{project.name} ({project.key})",
                eng,
                old + timedelta(minutes=len(hubs)),
                [B("paragraph", f"Home of the {project.name} project ({project.key})."), B("heading_2", "Pages")],
                role=f"hub:{project.key}",
            )
        handbook = self.page("Handbook", eng, old, [B("paragraph", "Team conventions.")], role="handbook")
        self.page("Runbook", hubs["SUBS"], self.at(25), self.runbook(), role="runbook")
        self.gallery(handbook)
        self.page("Deep nesting", handbook, self.at(55), self.deep(), role="deep")
        self.page(
            "Old SUBS pricing draft",
            hubs["SUBS"],
            self.at(50),
            [B("paragraph", "Superseded by the pricing runbook.")],
            trashed=True,
            role="trashed",
        )
        self.incidents(eng)
        self.bulk(hubs, eng)
        self.synced(handbook)  # last: the pages above keep their ids (benchmark labels name them)
        pages = self.data.pages
        self.data.search_order = sorted(pages, key=lambda p: (pages[p]["last_edited_time"], p), reverse=True)
        return self.data

    def runbook(self) -> list:
        blocks = [B("paragraph", "On-call runbook for the Subscriptions service.")]
        for n, topic in enumerate(_TOPICS[:6], 1):
            blocks.append(B("heading_2", f"{n}. {topic.capitalize()}"))
            blocks += [B("numbered_list_item", f"Step {i}: check {topic} ({self.sentence(6)})") for i in range(1, 19)]
        return blocks  # 1 + 6 * 19 = 115 top-level blocks: two pages of children

    def gallery(self, handbook: str) -> None:
        person = self.ws.people[0]
        mention = [
            _text_item("Owner: "),
            _mention_user(person, self.user_ids[person.email]),
            _text_item(", see "),
            _text_item("the docs", "https://docs.example.com/billing"),
            {**_text_item("E = mc^2"), "type": "equation", "equation": {"expression": "E = mc^2"}},
        ]
        del mention[-1]["text"]
        content = [
            B("heading_1", "Gallery"),
            B("paragraph", mention),
            B("heading_2", "Lists"),
            B("bulleted_list_item", "Bullet one", [B("bulleted_list_item", "Nested bullet")]),
            B("numbered_list_item", "First"),
            B("numbered_list_item", "Second"),
            B("to_do", "Done item", checked=True),
            B("to_do", "Open item", checked=False),
            B("toggle", "Toggle title", [B("paragraph", "Hidden detail")]),
            B("heading_3", "Quotes and code"),
            B("quote", "Ship small changes"),
            B("callout", "Mind the cut-off", [B("paragraph", "Invoices close at 18:00 UTC")], icon={"type": "emoji", "emoji": "⚠️"}),
            B("code", "SELECT count(*) FROM invoices;", caption=[], language="sql"),
            B("equation", expression="a^2 + b^2 = c^2"),
            B("divider"),
            table([["Plan", "Price"], ["Basic", "10 EUR"], ["Pro", "25 EUR"]]),
            B("bookmark", url="https://status.example.com", caption=rt("Status page")),
            B("embed", url="https://embed.example.com/chart", caption=[]),
            B("link_preview", url="https://github.com/example/billing/pull/42"),
            B("image", caption=rt("Architecture diagram"), type="external", external={"url": "https://cdn.example.com/arch.png"}),
            B("video", caption=[], type="external", external={"url": "https://video.example.com/demo.mp4"}),
            B("pdf", caption=rt("Contract template"), type="external", external={"url": "https://docs.example.com/contract.pdf"}),
            B("audio", caption=[], type="external", external={"url": "https://media.example.com/standup.mp3"}),
            # Notion-hosted files come with a signed S3 URL that expires an hour later.
            B(
                "file",
                caption=rt("Pricing sheet"),
                type="file",
                file={
                    "url": "https://prod-files-secure.s3.us-west-2.amazonaws.com/f/pricing.xlsx?X-Amz-Signature=abc",
                    "expiry_time": _ts(self.ws.anchor + timedelta(hours=1)),
                },
            ),
            B("heading_3", "Toggle heading", [B("paragraph", "Under a toggle heading")]),
            B("link_to_page", type="page_id", page_id=self.data.named["runbook"]),
            B(
                "column_list",
                children=[
                    B("column", children=[B("paragraph", "Left column")], width_ratio=0.5),
                    B("column", children=[B("paragraph", "Right column")], width_ratio=0.5),
                ],
            ),
            B("synced_block", children=[B("paragraph", "Synced text")], synced_from=None),
            B("table_of_contents", color="default"),
            B("breadcrumb"),
            B("unsupported"),
        ]
        gallery = self.page("Block gallery", handbook, self.at(40), content, role="gallery")
        toggle = next(b for b in self.data.children[gallery] if self.data.blocks[b]["type"] == "toggle")
        # A page inside a toggle has a block parent: its breadcrumb walks through the block.
        self.page("Gallery child", toggle, self.at(45), [B("paragraph", "A page under a toggle.")], role="gallery_child")

    def deep(self) -> list:
        chain: list = [B("paragraph", "Bottom of the chain")]
        for level in range(10, 0, -1):
            chain = [B("toggle", f"Level {level}", chain)]
        long_toggle = B("toggle", "Long toggle", [B("bulleted_list_item", f"Item {i}") for i in range(1, 106)])
        bullets = [B("bulleted_list_item", "Bullet depth 5")]
        for depth in range(4, 0, -1):
            bullets = [B("bulleted_list_item", f"Bullet depth {depth}", bullets)]
        return [B("heading_1", "Chain"), *chain, B("heading_1", "Long"), long_toggle, B("heading_1", "Bullets"), *bullets]

    def synced(self, handbook: str) -> None:
        """A page nesting deeper than any fixed limit (a chain in a column) and a synced block
        whose duplicate sits inside its own original: read naively, a cycle."""
        chain: list = [B("paragraph", "Bottom of the column chain")]
        for level in range(DEEP_CHAIN, 0, -1):
            chain = [B("toggle", f"Column level {level}", chain)]
        content = [
            B("paragraph", "Notes shared across pages."),
            B("synced_block", children=[B("paragraph", "Synced original text")], synced_from=None),
            B("column_list", children=[B("column", children=chain, width_ratio=1.0)]),
        ]
        page = self.page("Synced and nested", handbook, self.at(35), content, role="synced")
        original = next(b for b in self.data.children[page] if self.data.blocks[b]["type"] == "synced_block")
        edited = datetime.fromisoformat(self.data.pages[page]["last_edited_time"].replace("Z", "+00:00"))
        duplicate = self.block(
            {"type": "synced_block", "synced_block": {"synced_from": {"type": "block_id", "block_id": original}}, "children": []},
            {"type": "block_id", "block_id": original},
            edited,
            under=original,
        )
        self.data.blocks[duplicate]["has_children"] = True  # a duplicate shows its original's content

    def incidents(self, eng: str) -> None:
        options = {"Open": "red", "Mitigated": "yellow", "Resolved": "green"}
        schema = {
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Status": {
                "id": "st",
                "name": "Status",
                "type": "select",
                "select": {"options": [{"id": k.lower(), "name": k, "color": c} for k, c in options.items()]},
            },
            "Owner": {"id": "ow", "name": "Owner", "type": "people", "people": {}},
        }
        _db, ds = self.database("Incidents", eng, self.at(70), schema)
        parent = {"type": "data_source_id", "data_source_id": ds, "database_id": _db}
        for i in range(6):
            key = ("SUBS", "BC", "ARCH")[i % 3]
            person = self.ws.people[i % len(self.ws.people)]
            status = list(options)[i % 3]
            title = f"{key} incident: {_TOPICS[i].capitalize()}"
            props = {
                "Name": {"id": "title", "type": "title", "title": rt(title)},
                "Status": {"id": "st", "type": "select", "select": {"id": status.lower(), "name": status, "color": options[status]}},
                "Owner": {
                    "id": "ow",
                    "type": "people",
                    "people": [
                        {
                            "object": "user",
                            "id": self.user_ids[person.email],
                            "name": person.name,
                            "avatar_url": None,
                            "type": "person",
                            "person": {"email": person.email},
                        }
                    ],
                },
            }
            self.page(
                title,
                parent,
                self.at(10 + i * 30),
                [
                    B("heading_2", "Timeline"),
                    B("bulleted_list_item", f"Detected: {self.sentence(5)}"),
                    B("heading_2", "Follow-up"),
                    B("to_do", f"Fix {_TOPICS[i]}", checked=i % 2 == 0),
                ],
                properties=props,
                role=f"incident:{i}",
            )

    def bulk(self, hubs: dict[str, str], eng: str) -> None:
        count = 40 * max(1, self.ws.scale)
        span_min = (self.ws.anchor - self.ws.start).total_seconds() / 60
        keys = list(hubs) + [None]
        for i in range(count):
            # The first 24 land 15 minutes apart before the anchor: every recent hour has edits.
            minutes_ago = 5 + i * 15 if i < 24 else self.rng.uniform(1, span_min - 1)
            key = keys[i % len(keys)]
            topic = self.rng.choice(_TOPICS)
            title = f"{key} design: {topic}" if key and i % 2 else (f"{key} sync notes #{i}" if key else f"Team notes #{i}: {topic}")
            content = [
                B("heading_2", "Agenda"),
                *[B("bulleted_list_item", self.sentence(5)) for _ in range(3)],
                B("heading_2", "Notes"),
                B("paragraph", self.sentence(18)),
                B("paragraph", self.sentence(14)),
                B("to_do", f"Follow up on {topic}", checked=bool(i % 3)),
            ]
            if i % 5 == 0:
                content.append(B("toggle", "Details", [B("paragraph", self.sentence(10))]))
            self.page(title, hubs[key] if key else eng, self.at(minutes_ago), content)

    def sentence(self, words: int) -> str:
        text = " ".join(self.rng.choice(_WORDS) for _ in range(words))
        return text[0].upper() + text[1:] + "."


def _block_parent(holder: str, data: NotionData) -> dict:
    return {"type": "page_id", "page_id": holder} if holder in data.pages else {"type": "block_id", "block_id": holder}


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:00.000Z")


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# ------------------------------------------------------------------ simulator
class NotionSimulator(Simulator):
    """Serves ``NotionData`` the way api.notion.com does (reads only)."""

    name = "notion"

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(workspace, **options)
        # Test knobs over the shared sample (page ids): search leaves out ``hidden_from_search``
        # (Notion's search is known to miss pages), ``trashed`` pages are served in the trash
        # (and so left out of search), ``deleted`` ones are gone everywhere (404).
        self.hidden_from_search: set[str] = set()
        self.trashed: set[str] = set()
        self.deleted: set[str] = set()
        # Search indexing is not immediate (SEARCH_LIMITS): a page in ``index_delay`` is left out
        # of search until ``now`` reaches its last edit + its delay. ``now`` None: all indexed.
        self.now: datetime | None = None
        self.index_delay: dict[str, timedelta] = {}
        # Order is not promised (SEARCH_LIMITS): each page may come up to ``order_jitter`` places
        # from where its last_edited_time puts it (fixed per sample, so cursors stay consistent).
        self.order_jitter = int(options.get("order_jitter", ORDER_JITTER))
        self._jittered: tuple[int, list[str]] | None = None
        self._own: NotionData | None = None  # the sample with this simulator's changes

    @property
    def data(self) -> NotionData:
        return self._own or self.workspace.data("notion")

    def edit_page(self, page_id: str, text: str, at: datetime | None = None) -> dict:
        """Someone rewrites the page's first paragraph (one is added when it has none): the
        block and the page get a new ``last_edited_time``. Returns the changed block."""
        with self.lock:
            data = self._own_data()
            page = data.pages.get(page_id)
            if page is None or page_id in self.deleted or page_id in self.trashed or page["in_trash"]:
                raise KeyError(f"no live Notion page {page_id}")
            edited = _ts(at or datetime.now(timezone.utc))
            kids = data.children.get(page_id, [])
            first = next((data.blocks[b] for b in kids if data.blocks[b]["type"] == "paragraph"), None)
            if first is None:
                data.children[page_id] = list(kids)  # the sample's list stays as it was
                added = self._builder(data).block(
                    B("paragraph", text), {"type": "page_id", "page_id": page_id}, _moment(edited), under=page_id
                )
                first = data.blocks[added]
            block = {**first, "paragraph": {**first["paragraph"], "rich_text": rt(text)}, "last_edited_time": edited}
            data.blocks[block["id"]] = block
            data.pages[page_id] = {**page, "last_edited_time": edited}
            data.touched(page_id)
            return block

    def create_page(self, parent_page_id: str, title: str, text: str, at: datetime | None = None) -> dict:
        """Someone adds a page under ``parent_page_id`` with one paragraph: the new page."""
        with self.lock:
            data = self._own_data()
            if parent_page_id not in data.pages or parent_page_id in self.trashed | self.deleted:
                raise KeyError(f"no live Notion page {parent_page_id}")
            moment = _moment(_ts(at or datetime.now(timezone.utc)))
            data.children[parent_page_id] = list(data.children.get(parent_page_id, []))  # the sample's stays as it was
            page_id = self._builder(data).page(title, parent_page_id, moment, [B("paragraph", text)])
            data.pages[page_id] = {**data.pages[page_id], "created_time": _ts(moment)}
            data.touched(page_id)
            return data.pages[page_id]

    def reset_changes(self) -> None:
        """Back to the shared sample: edits, new pages, trash and deletions made here are forgotten."""
        with self.lock:
            self._own = None
            self.trashed.clear()
            self.deleted.clear()

    def _own_data(self) -> NotionData:
        """This simulator's own copy of the sample, made at its first change."""
        if self._own is None:
            self._own = self.workspace.data("notion").copy()
        return self._own

    def _builder(self, data: NotionData) -> _Builder:
        """The sample's builder writing into ``data``, with ids no sample page has."""
        builder = _Builder(self.workspace)  # its users' ids are the sample's
        builder.data, builder.rng = data, random.Random(f"sandbox-change-{len(data.pages)}-{len(data.blocks)}")
        return builder

    def _served(self, page: dict) -> dict:
        return {**page, "in_trash": True, "archived": True} if page["id"] in self.trashed else page

    # Errors in Notion's shape: {"object": "error", "status", "code", "message", "request_id"}.
    def error(self, status: int, message: str, code: str | None = None) -> Response:
        body = {
            "object": "error",
            "status": status,
            "code": code or _ERROR_CODES.get(status, "internal_server_error"),
            "message": message,
            "request_id": str(uuid.uuid4()),
        }
        return Response(status, body)

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        response = self.error(429, "You have been rate limited. Please try again in a few minutes.")
        response.headers["Retry-After"] = str(retry_after_s)
        return response

    def authorize(self, request: Request) -> Response | None:
        if request.bearer() != self.token:
            return self.error(401, "API token is invalid.")
        if not request.headers.get("Notion-Version"):
            return self.error(
                400,
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
                "missing_version",
            )
        return None

    def dispatch(self, request: Request) -> Response:
        if not any(pattern.fullmatch(request.path) for _m, pattern, _h in self.routes):
            return self.error(400, "Invalid request URL.", "invalid_request_url")
        return super().dispatch(request)

    # -------------------------------------------------------------- routes
    @route("POST", r"/v1/search")
    def search(self, request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            return self.error(400, "Error parsing JSON body.", "invalid_json")
        if not isinstance(body, dict):
            return self.error(400, "body failed validation: body should be an object.")
        size = self._page_size(body.get("page_size"), "body.page_size")
        if isinstance(size, Response):
            return size
        data, wanted = self.data, (body.get("filter") or {}).get("value")
        if wanted not in (None, "page", "data_source"):
            return self.error(
                400, f'body failed validation: body.filter.value should be `"page"` or `"data_source"`, instead was `"{wanted}"`.'
            )
        sort = body.get("sort") or {"direction": "descending", "timestamp": "last_edited_time"}
        if sort.get("timestamp") != "last_edited_time" or sort.get("direction") not in ("ascending", "descending"):
            return self.error(400, "body failed validation: body.sort is invalid.")
        hidden = self.hidden_from_search | self.deleted | self.trashed
        items = [] if wanted == "data_source" else [data.pages[p] for p in self._search_order() if p not in hidden]
        items = [page for page in items if not page["in_trash"] and self._indexed(page)]
        if wanted != "page":
            items += sorted(data.data_sources.values(), key=lambda d: d["last_edited_time"], reverse=True)
        if sort["direction"] == "ascending":
            items = items[::-1]
        query = (body.get("query") or "").lower()
        if query:
            items = [i for i in items if query in _title_of(i).lower()]
        return self._list(items, body.get("start_cursor"), size, "page_or_data_source")

    @route("GET", rf"/v1/blocks/{_ID}/children")
    def block_children(self, request: Request) -> Response:
        size = self._page_size(request.arg("page_size"), "query.page_size")
        if isinstance(size, Response):
            return size
        block_id = _uuid(request.params["id"])
        if block_id not in self.data.children and block_id not in self.data.blocks:
            return self._not_found("block", request.params["id"])
        # A duplicate synced block's content is its original's ("synced_from": the original's id;
        # https://developers.notion.com/reference/block#synced-block).
        source = ((self.data.blocks.get(block_id) or {}).get("synced_block") or {}).get("synced_from") or {}
        block_id = source.get("block_id") or block_id
        items = [self.data.blocks[b] for b in self.data.children.get(block_id, [])]
        return self._list(items, request.arg("start_cursor"), size, "block")

    @route("GET", rf"/v1/blocks/{_ID}")
    def block(self, request: Request) -> Response:
        return self._one(self.data.blocks, "block", request.params["id"])

    @route("GET", rf"/v1/pages/{_ID}")
    def page(self, request: Request) -> Response:
        page_id = _uuid(request.params["id"])
        if page_id in self.deleted:
            return self._not_found("page", request.params["id"])
        if page_id in self.trashed and page_id in self.data.pages:
            return self._one({page_id: self._served(self.data.pages[page_id])}, "page", page_id)
        return self._one(self.data.pages, "page", request.params["id"])

    @route("GET", rf"/v1/data_sources/{_ID}")
    def data_source(self, request: Request) -> Response:
        return self._one(self.data.data_sources, "data source", request.params["id"])

    @route("GET", rf"/v1/databases/{_ID}")
    def database(self, request: Request) -> Response:
        return self._one(self.data.databases, "database", request.params["id"])

    # -------------------------------------------------------------- helpers
    def _search_order(self) -> list[str]:
        """Newest edit first, each page moved by up to ``order_jitter`` places (seeded: stable)."""
        order = self.data.search_order
        if self.order_jitter <= 0:
            return order
        if self._jittered is None or self._jittered[0] != id(order):
            rng = self.workspace.rng("notion-search-order")
            keys = {p: i + rng.uniform(0, self.order_jitter + 1) for i, p in enumerate(order)}
            self._jittered = (id(order), sorted(order, key=keys.__getitem__))
        return self._jittered[1]

    def _indexed(self, page: dict) -> bool:
        delay = self.index_delay.get(page["id"])
        if delay is None or self.now is None:
            return True
        return self.now >= datetime.fromisoformat(page["last_edited_time"].replace("Z", "+00:00")) + delay

    def _page_size(self, raw: Any, where: str) -> int | Response:
        if raw is None:
            return MAX_PAGE_SIZE
        try:
            size = int(raw)
        except (TypeError, ValueError):
            return self.error(400, f"{where} should be a number, instead was `{raw!r}`.")
        if not 1 <= size <= MAX_PAGE_SIZE:
            return self.error(400, f"body failed validation: {where} should be ≤ `{MAX_PAGE_SIZE}`, instead was `{size}`.")
        return size

    def _list(self, items: list[dict], cursor: str | None, size: int, kind: str) -> Response:
        # Notion's cursors are the id of the first item of the next page.
        start = 0
        if cursor:
            start = next((i for i, item in enumerate(items) if item["id"] == _uuid(cursor)), -1)
            if start < 0:
                return self.error(400, f"start_cursor provided is invalid: {cursor}")
        chunk = items[start : start + size]
        more = start + size < len(items)
        return Response(
            200,
            {
                "object": "list",
                "results": chunk,
                "next_cursor": items[start + size]["id"] if more else None,
                "has_more": more,
                "type": kind,
                kind: {},
                "request_id": str(uuid.uuid4()),
            },
        )

    def _one(self, table: dict[str, dict], what: str, raw_id: str) -> Response:
        obj = table.get(_uuid(raw_id))
        if obj is None:
            return self._not_found(what, raw_id)
        return Response(200, {**obj, "request_id": str(uuid.uuid4())})

    def _not_found(self, what: str, raw_id: str) -> Response:
        return self.error(
            404,
            f"Could not find {what} with ID: {raw_id}. Make sure the relevant pages and "
            'databases are shared with your integration "vector-sync".',
        )


def _uuid(raw: str) -> str:
    """Notion accepts ids with or without dashes."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return raw


def _title_of(obj: dict) -> str:
    if obj.get("object") == "data_source":
        return "".join(t["plain_text"] for t in obj.get("title") or [])
    for prop in (obj.get("properties") or {}).values():
        if prop.get("type") == "title":
            return "".join(t["plain_text"] for t in prop["title"])
    return ""
