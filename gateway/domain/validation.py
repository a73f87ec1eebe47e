"""Validation that reports every problem at once, each with its path.

msgspec stops at the first error it meets. That is what we want on the fast path (valid input
decodes in one pass), but a person fixing a rejected order or a config file wants the whole list.
So when the fast decode fails, `collect_problems` walks the same Struct types field by field,
converting each leaf with msgspec itself, and gathers every error with its path. One mechanism
serves order intake (`$.lines[0].quantity`) and config checks (`suppliers[2].url`).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec

T = TypeVar("T")

PathPart = str | int


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with an input, and where."""

    path: tuple[PathPart, ...]
    message: str

    def json_path(self) -> str:
        """`$.lines[0].quantity`: the form the HTTP API reports."""
        return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)

    def key_path(self) -> str:
        """`suppliers[2].url`: the form config checks report."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "(top level)"


class ValidationFailed(Exception):
    """Raised with the complete list of problems of one input."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.json_path()}: {p.message}" for p in problems))
        self.problems = list(problems)


_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def problem_from_msgspec(error: msgspec.ValidationError, prefix: tuple[PathPart, ...]) -> Problem:
    """Split msgspec's "message - at `$.a[0].b`" into a Problem under `prefix`."""
    text = str(error)
    match = _AT_PATH.search(text)
    if match is None:
        return Problem(prefix, text)
    parts: list[PathPart] = []
    for name, index in _PATH_PART.findall(match.group("path")):
        parts.append(int(index) if index else name)
    return Problem(prefix + tuple(parts), text[: match.start()])


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


def collect_problems(
    value: Any, annotation: Any, path: tuple[PathPart, ...] = (), *, strict: bool = True
) -> list[Problem]:
    """Every problem of `value` against `annotation`, recursing into Structs and lists.

    `strict=False` lets strings stand for numbers and booleans, as environment variables must.
    """
    if annotation is msgspec.Raw:
        return []  # decoded (and judged) later, one element at a time
    struct = _struct_in(annotation)
    if struct is not None and isinstance(value, dict):
        problems = _collect_struct(value, struct, path, strict)
        if problems:
            return problems
    item = _list_item(annotation)
    if item is not None and isinstance(value, list) and _struct_in(item) is not None:
        problems = []
        for index, element in enumerate(value):
            problems.extend(collect_problems(element, item, (*path, index), strict=strict))
        if problems:
            return problems
    # A leaf, or a container whose parts are all fine: let msgspec judge the whole
    # (it also applies length limits and `__post_init__` checks).
    try:
        msgspec.convert(value, _raw_as_any(annotation), strict=strict)
    except msgspec.ValidationError as error:
        problem = problem_from_msgspec(error, path)
        hint = _hint(annotation)
        if hint and problem.path == path:
            problem = Problem(path, hint)
        return [problem]
    return []


def _collect_struct(
    value: dict[str, Any], struct: type[msgspec.Struct], path: tuple[PathPart, ...], strict: bool
) -> list[Problem]:
    problems: list[Problem] = []
    fields = msgspec.structs.fields(struct)
    known = {f.encode_name for f in fields}
    if struct.__struct_config__.forbid_unknown_fields:
        for key in value:
            if key not in known:
                problems.append(Problem((*path, key), "unknown field"))
    for field in fields:
        if field.encode_name not in value:
            if field.required:
                problems.append(Problem((*path, field.encode_name), "required field is missing"))
            continue
        problems.extend(
            collect_problems(
                value[field.encode_name], field.type, (*path, field.encode_name), strict=strict
            )
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
