"""The SQL-like ``FilterString`` and ``OrderString`` of ExecuteBillQuery, as K3Cloud takes them.

Field keys are case-insensitive (``FDocumentStatus``, ``FMaterialId.FNumber``); literals are
single-quoted strings (``''`` for a quote) or numbers; date fields compare with quoted dates
(``'2026-11-23 10:00:00'`` or ISO ``T`` form). Supported: ``= <> != > >= < <=``, ``like``,
``in (...)``, ``is [not] null``, ``and``, ``or``, ``not`` and parentheses: what integrations
send. Anything else is a syntax error, which K3Cloud reports as a failed query.

A filter compiles once into a predicate over a row (a mapping from lower-case field key to
value), so a query over thousands of bills stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


class FilterError(ValueError):
    """A filter or order string K3Cloud would refuse."""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|!=|>=|<=|=|>|<)"
    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_KEYWORDS = {"and", "or", "not", "like", "in", "is", "null"}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(
                f"过滤条件语法错误，位置 {position}: {text[position : position + 20]!r}"
            )
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "kw", value.lower()
        tokens.append((kind, value))
        position = match.end()
    return tokens


def _as_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _coerce(field_value: Any, literal: Any) -> tuple[Any, Any]:
    """Make a stored value and a literal comparable the way SQL Server would."""
    if isinstance(field_value, datetime) and isinstance(literal, str):
        parsed = _as_datetime(literal)
        if parsed is None:
            raise FilterError(f"日期格式不正确: {literal!r}")
        return field_value, parsed
    if isinstance(field_value, int | float | Decimal) and not isinstance(field_value, bool):
        try:
            return Decimal(str(field_value)), Decimal(str(literal))
        except InvalidOperation:
            raise FilterError(f"数值格式不正确: {literal!r}") from None
    if field_value is None:
        return None, literal
    return str(field_value), str(literal) if not isinstance(literal, str) else literal


def _like(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class _Parser:
    def __init__(self, text: str, known: Callable[[str], bool]) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.known = known

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            wanted = value or kind
            raise FilterError(
                f"过滤条件语法错误: 期望 {wanted}，实际 {token[1] if token else '结尾'}"
            )
        self.position += 1
        return token[1]

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"过滤条件语法错误: 多余的 {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == ("kw", "or"):
            self.position += 1
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda row: any(p(row) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == ("kw", "and"):
            self.position += 1
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda row: all(p(row) for p in parts)

    def unary(self) -> Predicate:
        if self.peek() == ("kw", "not"):
            self.position += 1
            inner = self.unary()
            return lambda row: not inner(row)
        if self.peek() == ("punct", "("):
            self.position += 1
            inner = self.or_expr()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def literal(self) -> Any:
        token = self.peek()
        if token is None:
            raise FilterError("过滤条件语法错误: 缺少值")
        self.position += 1
        if token[0] == "str":
            return token[1][1:-1].replace("''", "'")
        if token[0] == "num":
            return Decimal(token[1])
        raise FilterError(f"过滤条件语法错误: {token[1]!r} 不是值")

    def comparison(self) -> Predicate:
        field = self.take("word")
        key = field.lower()
        if not self.known(key):
            raise FilterError(f"元数据中标识为{field}的字段不存在")
        token = self.peek()
        if token == ("kw", "is"):
            self.position += 1
            negate = self.peek() == ("kw", "not")
            if negate:
                self.position += 1
            self.take("kw", "null")
            return lambda row: (row.get(key) in (None, "")) != negate
        if token == ("kw", "like") or token == ("kw", "not"):
            negate = token == ("kw", "not")
            if negate:
                self.position += 1
                self.take("kw", "like")
            else:
                self.position += 1
            pattern = _like(str(self.literal()))
            return lambda row: bool(pattern.fullmatch(str(row.get(key) or ""))) != negate
        if token == ("kw", "in"):
            self.position += 1
            self.take("punct", "(")
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.position += 1
                values.append(self.literal())
            self.take("punct", ")")

            def member(row: Row) -> bool:
                value = row.get(key)
                return any(_equal(value, literal) for literal in values)

            return member
        op = self.take("op")
        literal = self.literal()
        compare = _COMPARE[op]
        if isinstance(literal, str) and _as_datetime(literal) is not None:
            parsed_date = _as_datetime(literal)

            def date_compare(row: Row) -> bool:
                value = row.get(key)
                if isinstance(value, datetime):
                    return compare(value, parsed_date)
                if value is None:
                    return False
                a, b = _coerce(value, literal)
                return compare(a, b)

            return date_compare

        # Fast paths for the common cases (a status code, an id), so that a query over ten
        # thousand bills stays cheap; anything else goes through `_coerce`.
        whole = int(literal) if isinstance(literal, Decimal) and literal == int(literal) else None

        def compare_row(row: Row) -> bool:
            value = row.get(key)
            if value is None:
                return False
            if type(value) is str and type(literal) is str:
                return compare(value, literal)
            if type(value) is int and whole is not None:
                return compare(value, whole)
            a, b = _coerce(value, literal)
            return compare(a, b)

        return compare_row


def _equal(value: Any, literal: Any) -> bool:
    if value is None:
        return False
    a, b = _coerce(value, literal)
    return bool(a == b)


def compile_filter(text: str, known: Callable[[str], bool]) -> Predicate:
    """A predicate for `text` (empty: everything). `known(key)` says whether a lower-case field
    key exists on the form; an unknown one is an error, as in K3Cloud."""
    if not text.strip():
        return lambda row: True
    return _Parser(text, known).parse()


def compile_order(text: str, known: Callable[[str], bool]) -> list[tuple[str, bool]]:
    """``"FDate DESC, FID"`` → [("fdate", True), ("fid", False)] (key, descending)."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise FilterError(f"排序条件语法错误: {part.strip()!r}")
        if not known(words[0].lower()):
            raise FilterError(f"元数据中标识为{words[0]}的字段不存在")
        keys.append((words[0].lower(), len(words) == 2 and words[1].lower() == "desc"))
    return keys


def sort_key(value: Any) -> tuple[int, Any]:
    """Sorts None first, then values of one type among themselves."""
    if value is None:
        return (0, 0)
    if isinstance(value, datetime):
        return (1, value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (2, Decimal(str(value)))
    return (3, str(value))
