"""Templates that build a supplier's JSON from a purchase order, and paths that read its answer.

A template is plain TOML data. Each node is one of:

- a string starting with `$` (the PO: `$.ship_to.name`, `$.lines[0].sku`) or `@` (the current
  element inside `each`: `@.sku`): that value;
- any other string, number or boolean: itself (a constant);
- an array: an array of nodes;
- a table with one of the keys `path`, `const`, `join`, `each`: an operation (below);
- any other table: an object, each key a node (the key is the name the supplier wants).

Operations:
- `{path = "$.priority", map = {urgent = 1}, default = 3, decimal = "0.01", date = "%Y%m%d",
  tz = "+08:00", as = "number"}`: a value, then its transforms in that order;
- `{const = "$not-a-path"}`: a constant that would otherwise read as a path;
- `{join = ["$.ship_to.city", "$.ship_to.address1"], sep = " "}`: the non-empty parts, joined;
- `{each = "$.lines", item = {...}}`: one `item` per element of the array.

Compiling checks everything that can be checked without a PO (unknown fields, unknown keys,
bad transforms), each problem with its path inside the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import msgspec

from gateway.plugin_api import OptionProblem, PurchaseOrderRequest

Path = tuple[str | int, ...]

OPERATIONS = ("path", "const", "join", "each")
PATH_MODIFIERS = ("map", "default", "decimal", "date", "tz", "as")
AS_TYPES = ("string", "number", "integer", "boolean")
DATE_NAMED = ("iso", "unix", "unix_ms")

# What `$` paths can reach: the PO's fields. None marks a leaf; a list marks an array whose
# elements have the given fields.
_ADDRESS = dict.fromkeys(
    (
        "name",
        "phone",
        "country",
        "region",
        "province",
        "city",
        "district",
        "address1",
        "address2",
        "postal_code",
        "id_number",
        "full_address",
    )
)
_LINE = dict.fromkeys(("line_id", "sku", "quantity", "unit_cost", "line_total"))
PO_SCHEMA: dict[str, Any] = {
    **dict.fromkeys(
        (
            "po_id",
            "order_id",
            "order_external_id",
            "supplier_id",
            "created_at",
            "order_created_at",
            "priority",
            "currency",
            "total_quantity",
            "total_cost",
            "line_count",
        )
    ),
    "ship_to": _ADDRESS,
    "lines": [_LINE],
}

_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


class TemplateError(ValueError):
    """A template met a value it cannot transform (`decimal` of a name); names where."""


def po_document(po: PurchaseOrderRequest) -> dict[str, Any]:
    """The PO as templates see it: its fields, plus a few sums suppliers often want."""
    ship_to = msgspec.structs.asdict(po.ship_to)
    ship_to["full_address"] = " ".join(
        str(part)
        for part in (
            ship_to["province"],
            ship_to["city"],
            ship_to["district"],
            ship_to["address1"],
            ship_to["address2"],
        )
        if part
    )
    lines = [
        {
            "line_id": line.line_id,
            "sku": line.sku,
            "quantity": line.quantity,
            "unit_cost": line.unit_cost,
            "line_total": line.unit_cost * line.quantity if line.unit_cost is not None else None,
        }
        for line in po.lines
    ]
    costs = [
        line.unit_cost * line.quantity if line.unit_cost is not None else None for line in po.lines
    ]
    return {
        "po_id": po.po_id,
        "order_id": po.order_id,
        "order_external_id": po.order_external_id,
        "supplier_id": po.supplier_id,
        "created_at": po.created_at,
        "order_created_at": po.order_created_at,
        "priority": po.priority,
        "currency": po.currency,
        "total_quantity": sum(line.quantity for line in po.lines),
        "total_cost": sum(c for c in costs if c is not None) if None not in costs else None,
        "line_count": len(po.lines),
        "ship_to": ship_to,
        "lines": lines,
    }


# -- paths --------------------------------------------------------------------------------------


def parse_path(text: str) -> tuple[str, Path]:
    """`$.lines[0].sku` -> ("$", ("lines", 0, "sku")). Raises ValueError."""
    root, rest = text[:1], text[1:]
    if root not in ("$", "@"):
        raise ValueError(f"{text!r}: a path starts with $ (the PO) or @ (the element)")
    parts: list[str | int] = []
    position = 0
    for match in _PATH_PART.finditer(rest):
        if match.start() != position:
            break
        parts.append(int(match.group(2)) if match.group(2) else match.group(1))
        position = match.end()
    if position != len(rest):
        raise ValueError(f"{text!r}: not a path (like $.ship_to.city or $.lines[0].sku)")
    return root, tuple(parts)


def read_path(document: Any, parts: Path) -> Any:
    """The value at `parts`, or None where anything on the way is missing."""
    node = document
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
            node = node[part]
        else:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
    return node


def schema_at(schema: Any, parts: Path) -> tuple[Any, str | None]:
    """The schema under `parts`, or a message saying which part is unknown."""
    node = schema
    for index, part in enumerate(parts):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts[:index])
        if isinstance(part, int):
            if not isinstance(node, list):
                return None, f"{where or 'it'} is not an array"
            node = node[0]
        else:
            if not isinstance(node, dict):
                return None, f"{where} has no fields" if where else "no fields here"
            if part not in node:
                known = ", ".join(node)
                return None, f"unknown field {part!r}{' in ' + where if where else ''} ({known})"
            node = node[part]
    return node, None


# -- compiled nodes -----------------------------------------------------------------------------


class Node:
    def render(self, document: Any, item: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Const(Node):
    value: Any

    def render(self, document: Any, item: Any) -> Any:
        return self.value


@dataclass(frozen=True)
class Value(Node):
    """A path's value and its transforms."""

    where: str  # the template path, for errors met while rendering
    root: str
    parts: Path
    mapping: dict[str, Any] | None = None
    default: Any = None
    quantum: Decimal | None = None
    date: str | None = None
    tz: timezone = timezone(timedelta(hours=8))
    as_type: str | None = None

    def render(self, document: Any, item: Any) -> Any:
        value = read_path(document if self.root == "$" else item, self.parts)
        if self.mapping is not None and value is not None:
            # A value the map does not list becomes `default`, or stays as it is without one.
            fallback = value if self.default is None else self.default
            value = self.mapping.get(_text(value), fallback)
        if value is None:
            value = self.default
        if value is None:
            return None
        if self.quantum is not None:
            value = _decimal(value, self.where).quantize(self.quantum, rounding=ROUND_HALF_UP)
        if self.date is not None:
            value = _date(value, self.date, self.tz, self.where)
        if self.as_type is not None:
            value = _as(value, self.as_type, self.where)
        return value


@dataclass(frozen=True)
class Join(Node):
    parts: tuple[Node, ...]
    sep: str

    def render(self, document: Any, item: Any) -> Any:
        texts = [_text(p.render(document, item)) for p in self.parts]
        return self.sep.join(text for text in texts if text)


@dataclass(frozen=True)
class Each(Node):
    source: Value
    item: Node

    def render(self, document: Any, item: Any) -> Any:
        elements = self.source.render(document, item) or []
        return [self.item.render(document, element) for element in elements]


@dataclass(frozen=True)
class Array(Node):
    items: tuple[Node, ...]

    def render(self, document: Any, item: Any) -> Any:
        return [node.render(document, item) for node in self.items]


@dataclass(frozen=True)
class Object(Node):
    fields: tuple[tuple[str, Node], ...]
    omit_nulls: bool

    def render(self, document: Any, item: Any) -> Any:
        out: dict[str, Any] = {}
        for key, node in self.fields:
            value = node.render(document, item)
            if value is None and self.omit_nulls:
                continue
            out[key] = value
        return out


class Number:
    """A decimal the supplier wants as a JSON number: written digit for digit, never a float.
    (A plain class, not a dataclass or Struct, so that the encoder hands it to `_enc_hook`.)"""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.digits == self.digits

    def __hash__(self) -> int:
        return hash(self.digits)

    def __repr__(self) -> str:
        return f"Number({self.digits})"


def encode_json(value: Any) -> bytes:
    return _encoder.encode(value)


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Number):
        return msgspec.Raw(value.digits.encode())
    raise NotImplementedError(f"cannot write {type(value).__name__} as JSON")


_encoder = msgspec.json.Encoder(decimal_format="string", enc_hook=_enc_hook)


# -- transforms ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Number):
        return value.digits
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool):
        raise TemplateError(f"{where}: decimal of a boolean")
    try:
        return Decimal(_text(value))
    except InvalidOperation:
        raise TemplateError(f"{where}: decimal of a value that is not a number") from None


def _date(value: Any, pattern: str, tz: timezone, where: str) -> Any:
    if not isinstance(value, datetime):
        raise TemplateError(f"{where}: date of a value that is not a date")
    moment = value.astimezone(tz)
    if pattern == "iso":
        return moment.isoformat(timespec="seconds")
    if pattern == "unix":
        return int(moment.timestamp())
    if pattern == "unix_ms":
        return int(moment.timestamp() * 1000)
    return moment.strftime(pattern)


def _as(value: Any, as_type: str, where: str) -> Any:
    if as_type == "string":
        return _text(value)
    if as_type == "boolean":
        if isinstance(value, bool):
            return value
        return _text(value).lower() not in ("", "0", "false", "no")
    number = _decimal(value, where)
    if as_type == "integer":
        if number != number.to_integral_value():
            raise TemplateError(f"{where}: {number} is not a whole number")
        return int(number)
    return Number(format(number, "f"))


# -- compiling ------------------------------------------------------------------------------------


class Compiler:
    """Turns template data into nodes, collecting every problem with its path."""

    def __init__(self, prefix: Path = (), *, omit_nulls: bool = False) -> None:
        self.prefix = prefix
        self.omit_nulls = omit_nulls
        self.problems: list[OptionProblem] = []

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(OptionProblem((*self.prefix, *path), message))

    def compile(self, data: Any, path: Path = (), item_schema: Any = None) -> Node:
        if isinstance(data, str) and data[:1] in ("$", "@"):
            return self._value({"path": data}, path, item_schema, short=True)
        if isinstance(data, str | int | float | bool) or data is None:
            return Const(data)
        if isinstance(data, list):
            return Array(
                tuple(self.compile(v, (*path, i), item_schema) for i, v in enumerate(data))
            )
        if isinstance(data, dict):
            operations = [key for key in OPERATIONS if key in data]
            if len(operations) > 1:
                self.problem(path, f"one operation per table, not {' and '.join(operations)}")
                return Const(None)
            if not operations:
                return Object(
                    tuple(
                        (str(key), self.compile(value, (*path, str(key)), item_schema))
                        for key, value in data.items()
                    ),
                    self.omit_nulls,
                )
            operation = operations[0]
            if operation == "path":
                return self._value(data, path, item_schema)
            if operation == "const":
                self._unknown_keys(data, path, ("const",))
                return Const(data["const"])
            if operation == "join":
                return self._join(data, path, item_schema)
            return self._each(data, path, item_schema)
        self.problem(path, f"cannot use a {type(data).__name__} in a template")
        return Const(None)

    def _unknown_keys(self, data: dict[str, Any], path: Path, known: tuple[str, ...]) -> None:
        for key in data:
            if key not in known:
                self.problem((*path, key), f"unknown key (here: {', '.join(known)})")

    def _value(
        self, data: dict[str, Any], path: Path, item_schema: Any, *, short: bool = False
    ) -> Value:
        at = path if short else (*path, "path")
        self._unknown_keys(data, path, ("path", *PATH_MODIFIERS))
        text = data["path"]
        if not isinstance(text, str):
            self.problem(at, "a path is a string like $.ship_to.city")
            return Value(where=_where(path), root="$", parts=())
        try:
            root, parts = parse_path(text)
        except ValueError as error:
            self.problem(at, str(error))
            return Value(where=_where(path), root="$", parts=())
        if root == "@" and item_schema is None:
            self.problem(at, f"{text!r}: @ is only meaningful inside `each`")
        else:
            _, unknown = schema_at(PO_SCHEMA if root == "$" else item_schema, parts)
            if unknown:
                self.problem(at, f"{text!r}: {unknown}")
        mapping = data.get("map")
        if mapping is not None and not isinstance(mapping, dict):
            self.problem((*path, "map"), "a table from the PO's values to the supplier's")
            mapping = None
        quantum: Decimal | None = None
        if "decimal" in data:
            try:
                quantum = Decimal(str(data["decimal"]))
                if quantum <= 0 or quantum.as_tuple().digits != (1,):
                    raise InvalidOperation  # a power of ten: 1, 0.1, 0.01
            except InvalidOperation:
                self.problem((*path, "decimal"), 'the step to round to: "1", "0.1", "0.01"...')
                quantum = None
        date = data.get("date")
        if date is not None and (not isinstance(date, str) or not date):
            self.problem((*path, "date"), f"a strftime pattern or one of {DATE_NAMED}")
            date = None
        tz = timezone(timedelta(hours=8))
        if "tz" in data:
            parsed = _offset(data["tz"])
            if parsed is None:
                self.problem((*path, "tz"), "an offset like +08:00 or +00:00")
            else:
                tz = parsed
        as_type = data.get("as")
        if as_type is not None and as_type not in AS_TYPES:
            self.problem((*path, "as"), f"one of {', '.join(AS_TYPES)}")
            as_type = None
        return Value(
            where=_where(path),
            root=root,
            parts=parts,
            mapping={_text(k): v for k, v in mapping.items()} if mapping else None,
            default=data.get("default"),
            quantum=quantum,
            date=date,
            tz=tz,
            as_type=as_type,
        )

    def _join(self, data: dict[str, Any], path: Path, item_schema: Any) -> Node:
        self._unknown_keys(data, path, ("join", "sep"))
        parts = data["join"]
        sep = data.get("sep", " ")
        if not isinstance(sep, str):
            self.problem((*path, "sep"), "a string")
            sep = " "
        if not isinstance(parts, list) or not parts:
            self.problem((*path, "join"), "an array of the values to join")
            return Const(None)
        return Join(
            tuple(
                self.compile(part, (*path, "join", index), item_schema)
                for index, part in enumerate(parts)
            ),
            sep,
        )

    def _each(self, data: dict[str, Any], path: Path, item_schema: Any) -> Node:
        self._unknown_keys(data, path, ("each", "item"))
        source_text = data["each"]
        if "item" not in data:
            self.problem((*path, "item"), "what each element becomes")
            return Const(None)
        if not isinstance(source_text, str) or source_text[:1] not in ("$", "@"):
            self.problem((*path, "each"), "the path of an array, like $.lines")
            return Const(None)
        source = self._value({"path": source_text}, (*path, "each"), item_schema, short=True)
        element: Any = None
        schema = PO_SCHEMA if source.root == "$" else item_schema
        found, unknown = schema_at(schema, source.parts) if schema is not None else (None, "")
        if not unknown:
            if isinstance(found, list):
                element = found[0]
            else:
                self.problem((*path, "each"), f"{source_text!r} is not an array")
        return Each(source, self.compile(data["item"], (*path, "item"), element))


def _where(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(the template)"


def _offset(text: Any) -> timezone | None:
    match = _OFFSET.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
