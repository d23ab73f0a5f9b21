"""The MCP server: three tools with schemas and descriptions written for a model to use well.

``viewer_of(ctx)`` names who is asking for each call: a fixed viewer over stdio (the
operator's ``--user``), the signed-in user over HTTP (``http.request_viewer``). Tools are
plain functions run in a worker thread by the SDK, so a slow store never blocks the event
loop of Airflow's API server.
"""

# No `from __future__ import annotations`: the SDK reads the tools' annotations at runtime,
# and the sources' enum is a local type.
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from vector_sync.mcp import tools
from vector_sync.mcp.tools import Index, Viewer

SERVER_NAME = "vector-sync"
INSTRUCTIONS = (
    "Search the team's work records: Slack messages, Jira issues, Fireflies meeting transcripts, "
    "Notion pages and Tempo worklogs, synced into one index. Use `search` to find documents, "
    "`fetch_document` to read one whole (by the document_id a hit gives), and `sync_status` to say "
    "how fresh the index is. You only see what the signed-in person may see; cite links."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def build_server(index: Index, viewer_of: Callable[[Context], Viewer]) -> MCPServer:
    """The server with ``search``, ``fetch_document`` and ``sync_status`` over ``index``."""
    server = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING", middleware=[concise_argument_errors])
    names = tuple(index.sources())
    SourceName = Literal[names] if names else str  # type: ignore[valid-type]  # the schema's enum

    @server.tool(annotations=READ_ONLY)
    def search(
        ctx: Context,
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=tools.MAX_QUERY_CHARS,
                description="What to look for, in plain words: a question, a topic, a name, an issue key "
                "(e.g. 'why did we change the dunning schedule', 'SUBS-12'). Phrases like 'last week' "
                "or 'yesterday' narrow the dates.",
            ),
        ],
        sources: Annotated[
            list[SourceName] | None,  # type: ignore[valid-type]
            Field(
                description="Only these kinds of record: slack (messages), jira (issues), fireflies (meetings), "
                "notion (pages), tempo (worklogs). Leave out to search all."
            ),
        ] = None,
        projects: Annotated[
            list[str] | None,
            Field(description="Only these project keys, e.g. ['SUBS']. Leave out for every project."),
        ] = None,
        since: Annotated[
            str | None,
            Field(description="Only records from this date (2026-11-18) or ISO time (2026-11-18T09:00:00Z) on, inclusive."),
        ] = None,
        until: Annotated[
            str | None,
            Field(description="Only records before this ISO time, or up to the end of this date (2026-11-20), exclusive."),
        ] = None,
        top_k: Annotated[
            int, Field(ge=1, le=tools.MAX_TOP_K, description=f"How many documents to return, best first (1-{tools.MAX_TOP_K}).")
        ] = tools.DEFAULT_TOP_K,
    ) -> dict[str, Any]:
        """Search the team's Slack, Jira, meetings, Notion and worklogs; one hit per document, best first.

        Each hit has document_id, title, link, snippet (a line around the match), source, projects,
        timestamp (ISO, UTC) and score. Read a hit in full with fetch_document(document_id).
        The answer's identity says whose view it is (null: public items only, with identity_note why).
        """
        return tools.search_index(index, viewer_of(ctx), query, sources, projects, since, until, top_k)

    @server.tool(annotations=READ_ONLY)
    def fetch_document(
        ctx: Context,
        document_id: Annotated[
            str,
            Field(
                min_length=1,
                max_length=tools.MAX_DOCUMENT_ID_CHARS,
                description="A search hit's document_id, like 'jira:SUBS-1' or 'slack:C0123:1700000000.000100'.",
            ),
        ],
    ) -> dict[str, Any]:
        """Read one whole document: its full text (reassembled in order), title, link, source,
        projects, timestamp and metadata. Use it when a snippet is not enough to answer."""
        return tools.fetch_document(index, viewer_of(ctx), document_id)

    @server.tool(annotations=READ_ONLY)
    def sync_status() -> dict[str, Any]:
        """How fresh the index is, per source: health (healthy, stale, failed, stuck), last_sync
        (ISO, UTC), age_minutes, document and vector counts, the last run and open failures.
        Check it before saying something is absent, or to tell how current an answer is."""
        return tools.sync_status(index)

    return server


# "Error executing tool search: 1 validation error for searchArguments\ntop_k\n  Input should be
# less than or equal to 50 [type=..., input_value=..., input_type=int]\n    For further information
# visit https://errors.pydantic.dev/...": the field and the message are what the model needs.
_VALIDATION_HEAD = re.compile(r"^Error executing tool (\S+): \d+ validation errors? for \S+$")
_VALIDATION_ITEM = re.compile(r"^(\S[^\n]*)\n  ([^\n\[]+?)(?: \[[^\n]*\])?$", re.M)


async def concise_argument_errors(ctx: Any, call_next: Any) -> Any:
    """Server middleware: a tool call whose arguments fail the schema is answered with
    "invalid arguments for search: top_k: Input should be less than or equal to 50", not
    pydantic's full report (type codes, the rejected value echoed back, a documentation URL)."""
    result = await call_next(ctx)
    # The chain's result is the wire form here: {"content": [{"type": "text", "text": ...}], "isError": true}.
    if getattr(ctx, "method", None) != "tools/call" or not isinstance(result, dict) or not result.get("isError"):
        return result
    content = result.get("content") or []
    text = content[0].get("text") if content and isinstance(content[0], dict) else None
    head, _, rest = (text or "").partition("\n")
    match = _VALIDATION_HEAD.match(head)
    if match:
        problems = [f"{field}: {message}" for field, message in _VALIDATION_ITEM.findall(rest)]
        content[0] = {**content[0], "text": f"invalid arguments for {match.group(1)}: {'; '.join(problems) or rest.strip()}"}
    return result
