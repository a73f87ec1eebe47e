"""Validation that reports every problem at once, each with its path.

msgspec stops at the first error it meets. That is what we want on the fast path (valid input
decodes in one pass), but a person fixing a rejected order or a config file wants the whole list.
So when the fast decode fails, `collect_problems` walks the same Struct types field by field,
converting each leaf with msgspec itself, and gathers every error with its path. One mechanism
serves order intake (`$.lines[0].quantity`) and config checks (`suppliers[2].url`).

The walk costs no more than the input is large: it stops after `MAX_PROBLEMS`, walks no list
past its declared `max_length`, and messages quote at most a short prefix of a bad value.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec

T = TypeVar("T")

PathPart = str | int

# Past this many problems in one input the rest are not looked for: the first fifty are
# enough to act on, and the walk (and the answer listing them) stays cheap whatever a client
# sends: a batch of 1,000 junk orders answers with 5.1 MB of problems instead of 7.3 MB.
MAX_PROBLEMS = 50
# A bad value is quoted back at most this long.
QUOTE_LIMIT = 40
# msgspec's words for `2.0` where an int belongs, which JSON (and JSON Schema) count as 2.
FLOAT_FOR_INT = "Expected `int`, got `float`"

_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A bad value for a message: its repr, cut to a short prefix when long, so a message
    never echoes 100,000 characters back (`'xxxx…' (100000 characters)`)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


@functools.lru_cache(maxsize=4096)
def _key_part(key: str) -> str:
    """A dict key in a path: `.name` when it reads as a name, `["a.b"]` (JSON-quoted) else."""
    if _SIMPLE_KEY.fullmatch(key):
        return f".{key}"
    shown = key if len(key) <= QUOTE_LIMIT else key[:QUOTE_LIMIT] + "…"
    return "[" + msgspec.json.encode(shown).decode() + "]"


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with an input, and where."""

    path: tuple[PathPart, ...]
    message: str

    def json_path(self) -> str:
        """`$.lines[0].quantity`: the form the HTTP API reports."""
        return "$" + "".join(f"[{p}]" if isinstance(p, int) else _key_part(p) for p in self.path)

    def key_path(self) -> str:
        """`suppliers[2].url`: the form config checks report."""
        out = ""
        for part in self.path:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += _key_part(part) if out else part
        return out or "(top level)"


class ValidationFailed(Exception):
    """Raised with the complete list of problems of one input (at most MAX_PROBLEMS + 1).

    `external_id` is the input's own id when one could be read, so a caller can match a
    rejected order to what it sent."""

    def __init__(self, problems: Sequence[Problem], external_id: str | None = None) -> None:
        super().__init__()
        self.problems = list(problems)
        self.external_id = external_id

    def __str__(self) -> str:  # built when asked for: a rejected batch never asks
        return "; ".join(f"{p.json_path()}: {p.message}" for p in self.problems)


_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
# msgspec quotes a bad enum value whole ("Invalid enum value 'xxx...'").
_QUOTED = re.compile(r"'((?:[^'\\]|\\.){" + str(QUOTE_LIMIT) + r"})(?:[^'\\]|\\.)+'")


def _shorten_quotes(message: str) -> str:
    return _QUOTED.sub(lambda m: f"'{m.group(1)}…'", message)


def problem_from_msgspec(error: msgspec.ValidationError, prefix: tuple[PathPart, ...]) -> Problem:
    """Split msgspec's "message - at `$.a[0].b`" into a Problem under `prefix`."""
    text = str(error)
    match = _AT_PATH.search(text)
    if match is None:
        return Problem(prefix, _shorten_quotes(text))
    parts: list[PathPart] = []
    path = match.group("path")
    position = 0
    # Parts msgspec cannot name (`[...]`, a dict key) end the path where they start.
    while (part := _PATH_PART.match(path, position)) is not None:
        name, index = part.groups()
        parts.append(int(index) if index else name)
        position = part.end()
    return Problem(prefix + tuple(parts), _shorten_quotes(text[: match.start()]))


def _hint(annotation: Any) -> str | None:
    """A friendlier message declared as `Meta(extra={"hint": ...})` on an Annotated type,
    also when the type is optional (`Money | None`)."""
    if get_origin(annotation) is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, msgspec.Meta) and meta.extra and "hint" in meta.extra:
                return str(meta.extra["hint"])
    if get_origin(annotation) in (Union, types.UnionType):
        hints = {_hint(arg) for arg in get_args(annotation) if arg is not type(None)}
        hints.discard(None)
        if len(hints) == 1:
            return hints.pop()
    return None


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _max_length(annotation: Any) -> int | None:
    if get_origin(annotation) is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, msgspec.Meta) and meta.max_length is not None:
                return meta.max_length
    return None


def _struct_in(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct type inside `X`, `X | None` or `Annotated[X, ...]`, if there is exactly one."""
    bare = _strip_annotated(annotation)
    if isinstance(bare, type) and issubclass(bare, msgspec.Struct):
        return bare
    if get_origin(bare) in (Union, types.UnionType):
        structs = [
            a for a in get_args(bare) if isinstance(a, type) and issubclass(a, msgspec.Struct)
        ]
        others = [a for a in get_args(bare) if a is not type(None) and a not in structs]
        if len(structs) == 1 and not others:
            return structs[0]
    return None


def _list_item(annotation: Any) -> Any | None:
    bare = _strip_annotated(annotation)
    if get_origin(bare) in (list, tuple) and get_args(bare):
        args = get_args(bare)
        if get_origin(bare) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return None
        return args[0]
    return None


def _dict_value(annotation: Any) -> Any | None:
    """The value type of `dict[str, V]` (possibly Annotated or optional), else None."""
    bare = _strip_annotated(annotation)
    if get_origin(bare) in (Union, types.UnionType):
        args = [a for a in get_args(bare) if a is not type(None)]
        bare = _strip_annotated(args[0]) if len(args) == 1 else None
    if get_origin(bare) is dict and len(get_args(bare)) == 2:
        value = get_args(bare)[1]
        return None if value is Any else value
    return None


def _raw_as_any(annotation: Any) -> Any:
    """`list[msgspec.Raw]` (a batch whose elements are decoded later) checked as `list[Any]`,
    keeping its length limits: Raw cannot be converted from Python objects."""
    metadata: tuple[Any, ...] = ()
    bare = annotation
    if get_origin(bare) is typing.Annotated:
        metadata = bare.__metadata__
        bare = get_args(bare)[0]
    if get_origin(bare) is list and get_args(bare) == (msgspec.Raw,):
        return typing.Annotated[(list[Any], *metadata)] if metadata else list[Any]
    return annotation


class _Shape:
    """What the walk needs to know about one annotation, worked out once: resolving a
    Struct's fields and taking typing constructs apart costs far more than the walk itself."""

    __slots__ = ("convert_as", "dict_value", "fields", "hint", "item", "max_length", "struct")

    def __init__(self, annotation: Any) -> None:
        self.struct = _struct_in(annotation)
        self.fields = msgspec.structs.fields(self.struct) if self.struct else ()
        item = _list_item(annotation)
        self.item = item if item is not None and _struct_in(item) is not None else None
        self.max_length = _max_length(annotation)
        self.dict_value = _dict_value(annotation)
        self.hint = _hint(annotation)
        self.convert_as = _raw_as_any(annotation)


# Keyed by id: typing constructs hash slowly. The annotation is kept in the value, so its id
# cannot be reused while the entry lives; annotations are the program's own, few and lasting.
_shapes: dict[int, tuple[Any, _Shape]] = {}


def _shape(annotation: Any) -> _Shape:
    entry = _shapes.get(id(annotation))
    if entry is not None and entry[0] is annotation:
        return entry[1]
    shape = _Shape(annotation)
    _shapes[id(annotation)] = (annotation, shape)
    return shape


class _Budget:
    """How many more problems a walk may report before it stops looking."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.exhausted = False

    def take(self, problems: list[Problem]) -> list[Problem]:
        if len(problems) > self.left:
            problems = problems[: self.left]
            self.exhausted = True
        self.left -= len(problems)
        return problems


def collect_problems(
    value: Any,
    annotation: Any,
    path: tuple[PathPart, ...] = (),
    *,
    strict: bool = True,
    limit: int = MAX_PROBLEMS,
) -> list[Problem]:
    """Every problem of `value` against `annotation`, recursing into Structs, lists and dicts,
    up to `limit` of them (then one more saying that the list stops there).

    `strict=False` lets strings stand for numbers and booleans, as environment variables must.
    """
    budget = _Budget(limit)
    problems = _collect(value, annotation, path, strict, budget)
    if budget.exhausted:
        problems.append(
            Problem(path, f"more problems were not looked for; these are the first {limit}")
        )
    return problems


def _collect(
    value: Any, annotation: Any, path: tuple[PathPart, ...], strict: bool, budget: _Budget
) -> list[Problem]:
    if annotation is msgspec.Raw or budget.left <= 0:
        return []  # Raw is decoded (and judged) later, one element at a time
    shape = _shape(annotation)
    if shape.struct is not None and isinstance(value, dict):
        problems = _collect_struct(value, shape, path, strict, budget)
        if problems:
            return problems
    # A list longer than allowed is not walked: msgspec says so below, in one line.
    fits = shape.max_length is None or (isinstance(value, list) and len(value) <= shape.max_length)
    if shape.item is not None and isinstance(value, list) and fits:
        problems = []
        for index, element in enumerate(value):
            problems += _collect(element, shape.item, (*path, index), strict, budget)
            if budget.left <= 0:
                break
        if problems:
            return problems
    if shape.dict_value is not None and isinstance(value, dict):
        problems = []
        for key, element in value.items():
            if isinstance(key, str):
                problems += _collect(element, shape.dict_value, (*path, key), strict, budget)
            if budget.left <= 0:
                break
        if problems:
            return problems
    # A leaf, or a container whose parts are all fine: let msgspec judge the whole
    # (it also applies length limits and `__post_init__` checks).
    try:
        msgspec.convert(value, shape.convert_as, strict=strict)
    except msgspec.ValidationError as error:
        problem = problem_from_msgspec(error, path)
        if shape.hint and problem.path == path:
            problem = Problem(path, shape.hint)
        return budget.take([problem])
    return []


def _collect_struct(
    value: dict[str, Any],
    shape: _Shape,
    path: tuple[PathPart, ...],
    strict: bool,
    budget: _Budget,
) -> list[Problem]:
    assert shape.struct is not None
    problems: list[Problem] = []
    if shape.struct.__struct_config__.forbid_unknown_fields:
        known = {f.encode_name for f in shape.fields}
        unknown = [Problem((*path, key), "unknown field") for key in value if key not in known]
        problems += budget.take(unknown)
    for field in shape.fields:
        if budget.left <= 0:
            break
        if field.encode_name not in value:
            if field.required:
                problems += budget.take(
                    [Problem((*path, field.encode_name), "required field is missing")]
                )
            continue
        problems += _collect(
            value[field.encode_name], field.type, (*path, field.encode_name), strict, budget
        )
    return problems


def convert_all(value: Any, annotation: type[T], *, strict: bool = True) -> T:
    """Convert `value` to `annotation`, or raise ValidationFailed listing every problem."""
    try:
        return msgspec.convert(value, annotation, strict=strict)
    except msgspec.ValidationError as error:
        problems = collect_problems(value, annotation, strict=strict) or [
            problem_from_msgspec(error, ())
        ]
        raise ValidationFailed(problems) from None
