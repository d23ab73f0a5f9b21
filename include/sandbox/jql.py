"""A small JQL parser and evaluator: the subset connectors send, with Jira's error messages.

Supported (field names and keywords are case-insensitive, as in Jira):

- ``updated`` / ``updatedDate`` and ``created`` / ``createdDate`` with ``= != > >= < <=``
  against epoch milliseconds (``updated >= 1700000000000``) or absolute dates
  (``"yyyy/MM/dd HH:mm"``, ``"yyyy-MM-dd HH:mm"``, ``"yyyy/MM/dd"``, ``"yyyy-MM-dd"``).
- ``project`` with ``= != in (..) not in (..)`` by key, id or name.
- ``id`` / ``key`` / ``issuekey`` / ``issue`` with ``= != in (..) not in (..)``.
- ``AND`` (``&&``), ``OR`` (``||``), ``NOT`` (``!``), parentheses.
- ``ORDER BY field [ASC|DESC], ...`` on updated, created, key/issuekey, id, project (ASC by default).

Anything else is a 400 in the simulator (:class:`JqlError`), which is also what Jira does with
syntax it does not know. The parser is pure: :func:`parse` builds a tree, :func:`compile_filter`
binds it to a :class:`Catalog` (which projects and issues exist) and returns a predicate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol

# Jira refuses searches with no restriction ("ORDER BY updated" alone) on the enhanced search
# endpoints; this is its wording.
UNBOUNDED_MESSAGE = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."

# Jira accepts at most 7 fields in ORDER BY on search/jql (documented on the jql parameter).
MAX_ORDER_FIELDS = 7

DATE_FIELDS = {"updated": "updated", "updateddate": "updated", "created": "created", "createddate": "created"}
ISSUE_FIELDS = {"id", "key", "issuekey", "issue"}
SORTABLE = {
    "updated": "updated",
    "updateddate": "updated",
    "created": "created",
    "createddate": "created",
    "key": "key",
    "issuekey": "key",
    "issue": "key",
    "id": "id",
    "project": "project",
}

# Absolute date formats Jira accepts, most specific first. Minute precision: no seconds.
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DATE_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
)

_KEYWORDS = {"and", "or", "not", "in", "order", "by", "asc", "desc", "is", "empty", "null"}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|&&|\|\||[=<>~!(),&|])
      | (?P<word>[^\s()=!<>~,"'&|]+)
    )""",
    re.VERBOSE,
)


class JqlError(ValueError):
    """An invalid query: the message is what Jira would put in ``errorMessages``."""


@dataclass(frozen=True)
class Token:
    kind: str  # string | op | word | end
    text: str
    pos: int

    @property
    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in _KEYWORDS else None


@dataclass(frozen=True)
class Compare:
    field: str  # lower-cased as written
    op: str  # = != > >= < <= in "not in"
    values: tuple[Token, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class Query:
    where: Compare | BoolOp | Not | None
    order_by: tuple[tuple[str, bool], ...]  # (sort field, descending)
    text: str

    @property
    def bounded(self) -> bool:
        return self.where is not None


def _syntax(message: str, pos: int) -> JqlError:
    return JqlError(f"Error in the JQL Query: {message} (line 1, character {pos + 1})")


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return tokens + [Token("end", "", pos)]
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _syntax(
                f"The character '{text[pos]}' is a reserved JQL character. You must enclose it in a string or use the escape instead.", pos
            )
        kind = match.lastgroup or "word"
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := unary (AND unary)*."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        return self.tok.keyword in words

    def parse(self) -> Query:
        where = None
        if not (self.is_kw("order") or self.tok.kind == "end"):
            where = self.or_expr()
        order = self.order_by() if self.is_kw("order") else ()
        if self.tok.kind != "end":
            raise _syntax(f"Expecting either 'OR' or 'AND' but got '{self.tok.text}'.", self.tok.pos)
        return Query(where, order, self.text)

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.is_kw("or") or self.tok.text in ("||", "|"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Any:
        items = [self.unary()]
        while self.is_kw("and") or self.tok.text in ("&&", "&"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Any:
        if self.is_kw("not") or (self.tok.kind == "op" and self.tok.text == "!"):
            self.take()
            return Not(self.unary())
        if self.tok.text == "(" and self.tok.kind == "op":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.clause()

    def expect(self, text: str) -> Token:
        if self.tok.text != text:
            found = self.tok.text or "<EOF>"
            raise _syntax(f"Expecting '{text}' but got '{found}'.", self.tok.pos)
        return self.take()

    def clause(self) -> Compare:
        field = self.tok
        if field.kind not in ("word", "string") or field.keyword:
            raise _syntax(f"Expecting a field name but got '{field.text or '<EOF>'}'.", field.pos)
        self.take()
        name = _unquote(field).lower()
        if self.is_kw("in"):
            self.take()
            return Compare(name, "in", self.value_list())
        if self.is_kw("not"):
            self.take()
            if not self.is_kw("in"):
                raise _syntax(f"Expecting 'IN' but got '{self.tok.text}'.", self.tok.pos)
            self.take()
            return Compare(name, "not in", self.value_list())
        if self.is_kw("is"):
            raise _syntax("The operator 'IS' is not supported by the sandbox.", self.tok.pos)
        op = self.tok
        if op.kind != "op" or op.text not in ("=", "!=", ">", ">=", "<", "<=", "~", "!~"):
            raise _syntax(
                f"Expecting operator but got '{op.text or '<EOF>'}'. Valid operators are: "
                "'=', '!=', '~', '!~', '<', '<=', '>', '>=', 'IN', 'NOT IN', 'IS', 'IS NOT'.",
                op.pos,
            )
        self.take()
        return Compare(name, op.text, (self.value(),))

    def value(self) -> Token:
        tok = self.tok
        if tok.kind == "string" or (tok.kind == "word" and not tok.keyword):
            self.take()
            if self.tok.text == "(" and tok.kind == "word":
                raise _syntax(f"The sandbox does not support the JQL function '{tok.text}'.", tok.pos)
            return tok
        raise _syntax(f"Expecting either a value, list or function but got '{tok.text or '<EOF>'}'.", tok.pos)

    def value_list(self) -> tuple[Token, ...]:
        self.expect("(")
        values = [self.value()]
        while self.tok.text == ",":
            self.take()
            values.append(self.value())
        self.expect(")")
        return tuple(values)

    def order_by(self) -> tuple[tuple[str, bool], ...]:
        self.take()  # ORDER
        if not self.is_kw("by"):
            raise _syntax(f"Expecting 'by' but got '{self.tok.text}'.", self.tok.pos)
        self.take()
        order = []
        while True:
            field = self.tok
            if field.kind not in ("word", "string") or field.keyword:
                raise _syntax(f"Expecting a field name but got '{field.text or '<EOF>'}'.", field.pos)
            self.take()
            name = _unquote(field).lower()
            if name not in SORTABLE:
                raise JqlError(f"Field '{_unquote(field)}' does not exist or you do not have permission to view it.")
            descending = False
            if self.is_kw("asc", "desc"):
                descending = self.take().text.lower() == "desc"
            order.append((SORTABLE[name], descending))
            if self.tok.text != ",":
                break
            self.take()
        if len(order) > MAX_ORDER_FIELDS:
            raise JqlError(f"The ORDER BY clause can contain a maximum of {MAX_ORDER_FIELDS} fields.")
        return tuple(order)


def parse(text: str | None) -> Query:
    """Parse a JQL string; raises :class:`JqlError` with Jira's wording on bad syntax."""
    return _Parser(text or "").parse()


def _unquote(tok: Token) -> str:
    if tok.kind != "string":
        return tok.text
    return re.sub(r"\\(.)", r"\1", tok.text[1:-1])


class Catalog(Protocol):
    """What the evaluator needs to know about the instance, to resolve and validate values."""

    def project_key(self, value: str) -> str | None:
        """Project key for a key, id or name (None when no such project)."""

    def issue_id(self, value: str) -> int | None:
        """Issue id for a key or numeric id (None when no such issue)."""


class Record(Protocol):
    id: int
    project: str
    created_ms: int
    updated_ms: int


Predicate = Callable[[Any], bool]


def parse_date_ms(raw: str, field: str, tz: tzinfo = timezone.utc) -> int:
    """A JQL date value as epoch ms. Numbers are epoch ms; strings are read in ``tz``.

    Jira reads absolute dates in the searching user's time zone, at minute precision: this is
    why connectors send epoch milliseconds instead.
    """
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    for fmt in _DATE_FORMATS:
        try:
            moment = datetime.strptime(raw.strip(), fmt)
        except ValueError:
            continue
        return (moment.replace(tzinfo=tz) - _EPOCH) // timedelta(milliseconds=1)
    raise JqlError(f"Date value '{raw}' for field '{field}' is invalid. {_DATE_HELP}")


_COMPARE = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _unsupported_op(op: str, field: str) -> JqlError:
    return JqlError(f"The operator '{op.upper()}' is not supported by the '{field}' field.")


def _date_clause(node: Compare, tz: tzinfo) -> Predicate:
    attr = DATE_FIELDS[node.field] + "_ms"
    if node.op not in _COMPARE:
        raise _unsupported_op(node.op, node.field)
    bound = parse_date_ms(_unquote(node.values[0]), node.field, tz)
    compare = _COMPARE[node.op]
    return lambda rec: compare(getattr(rec, attr), bound)


def _member_clause(node: Compare, resolve: Callable[[str], Any], attr: str) -> Predicate:
    if node.op not in ("=", "!=", "in", "not in"):
        raise _unsupported_op(node.op, node.field)
    wanted = frozenset(resolve(_unquote(tok)) for tok in node.values)
    if node.op in ("=", "in"):
        return lambda rec: getattr(rec, attr) in wanted
    return lambda rec: getattr(rec, attr) not in wanted


def _compile(node: Any, catalog: Catalog, tz: tzinfo) -> Predicate:
    if isinstance(node, BoolOp):
        parts = [_compile(item, catalog, tz) for item in node.items]
        if node.op == "and":
            return lambda rec: all(p(rec) for p in parts)
        return lambda rec: any(p(rec) for p in parts)
    if isinstance(node, Not):
        inner = _compile(node.item, catalog, tz)
        return lambda rec: not inner(rec)
    if node.field in DATE_FIELDS:
        return _date_clause(node, tz)
    if node.field == "project":

        def project(value: str) -> str:
            key = catalog.project_key(value)
            if key is None:
                raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
            return key

        return _member_clause(node, project, "project")
    if node.field in ISSUE_FIELDS:

        def issue(value: str) -> int:
            issue_id = catalog.issue_id(value)
            if issue_id is None:
                raise JqlError(f"An issue with key '{value}' does not exist for field '{node.field}'.")
            return issue_id

        return _member_clause(node, issue, "id")
    raise JqlError(f"Field '{node.field}' does not exist or you do not have permission to view it.")


def compile_filter(query: Query, catalog: Catalog, tz: tzinfo = timezone.utc) -> Predicate:
    """A predicate over records (id, project, created_ms, updated_ms) for the query's WHERE part."""
    if query.where is None:
        return lambda rec: True
    return _compile(query.where, catalog, tz)


def sort_records(records: Iterable[Any], order_by: Sequence[tuple[str, bool]], sort_values: Callable[[Any, str], Any]) -> list[Any]:
    """Records sorted by ``order_by``; ties (and no ORDER BY) fall back to ascending id.

    The id tie-break keeps pages stable for ``ORDER BY updated`` when timestamps collide.
    """
    out = sorted(records, key=lambda rec: rec.id)
    for field, descending in reversed(order_by):
        out.sort(key=lambda rec: sort_values(rec, field), reverse=descending)
    return out
