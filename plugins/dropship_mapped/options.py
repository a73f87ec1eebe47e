"""The `options` of a `mapped_json` supplier: the request (method, path, headers, auth, body
template) and how to read the answer. `compile_options` checks all of it and builds what the
adapter runs; `check_options` is the same check for `run.py check`."""

from __future__ import annotations

import re
import string
from typing import Any, Literal

import msgspec

from dropship_mapped.template import Compiler, Node, Path, parse_path, read_path
from gateway.plugin_api import OptionProblem

SIGN_PLACEHOLDERS = ("body", "timestamp", "nonce", "method", "path")


class Auth(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """`bearer`: `Authorization: Bearer <token>`; `header`: `<header>: <token>`;
    `hmac`: `<header>: <prefix><digest of payload>` with the secret."""

    type: Literal["bearer", "header", "hmac"]
    token: str | None = None
    secret: str | None = None
    header: str | None = None
    algorithm: Literal["sha256", "sha1", "sha512", "md5"] = "sha256"
    encoding: Literal["hex", "HEX", "base64"] = "hex"  # HEX: upper-case hex
    payload: str = "{body}"  # what is signed; placeholders {body} {timestamp} {nonce} ...
    prefix: str = ""  # e.g. "sha256=" before the digest
    timestamp_header: str | None = None  # sends the {timestamp} that was signed
    timestamp_unit: Literal["s", "ms"] = "s"
    nonce_header: str | None = None  # sends the {nonce} that was signed


class Condition(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """True when the answer's value at `path` equals `equals`, is one of `in`, or exists."""

    path: str
    equals: Any = msgspec.UNSET
    in_: list[Any] | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="in")
    exists: bool | msgspec.UnsetType = msgspec.UNSET

    def holds(self, answer: Any) -> bool:
        value = read_path(answer, parse_path(self.path)[1])
        if not isinstance(self.exists, msgspec.UnsetType):
            return (value is not None) == self.exists
        if not isinstance(self.in_, msgspec.UnsetType):
            return _same_text(value) in {_same_text(v) for v in self.in_}
        return _same_text(value) == _same_text(self.equals)


def _same_text(value: Any) -> str | None:
    """0, "0" and 0.0 are the same code; true and "true" the same flag."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Response(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    success: Condition | None = None  # without it, any 2xx is success
    reference: str | None = None  # path of the supplier's reference for the PO
    reason: str | None = None  # path of a refusal's reason code
    message: str | None = None  # path of a human-readable message
    reason_map: dict[str, str] = {}  # the supplier's codes -> ours (out_of_stock, ...)
    duplicate: Condition | None = None  # "I already have this PO": accepted
    retry: Condition | None = None  # "try again later" inside a 2xx answer
    failed: Condition | None = None  # not about the PO (bad signature...): fails it, no retry
    # HTTP statuses that refuse the PO (its reason read by path, like a 2xx refusal).
    reject_statuses: list[int] = msgspec.field(default_factory=lambda: [422])


class MappedOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    method: Literal["POST", "PUT"] = "POST"
    path: str = "/purchase-orders"  # after the supplier's url; {po_id} may appear
    headers: dict[str, str] = {}
    idempotency_header: str = "Idempotency-Key"  # "" to send none
    auth: Auth | None = None
    body: dict[str, Any] | list[Any]
    omit_nulls: bool = False  # leave out object keys whose value is null
    response: Response = msgspec.field(default_factory=Response)


class CompiledMapping(msgspec.Struct, frozen=True, kw_only=True):
    options: MappedOptions
    body: Node


def compile_options(options: dict[str, Any]) -> tuple[CompiledMapping | None, list[OptionProblem]]:
    """The mapping ready to run, or None and every problem, each with its path in `options`."""
    problems = _type_problems(options)
    if problems:
        return None, problems
    parsed = msgspec.convert(options, MappedOptions, strict=False)
    compiler = Compiler(("body",), omit_nulls=parsed.omit_nulls)
    body = compiler.compile(parsed.body)
    problems += compiler.problems
    problems += _path_template_problems(parsed.path)
    problems += _auth_problems(parsed.auth)
    response = parsed.response
    for key in ("reference", "reason", "message"):
        text = getattr(response, key)
        if text is not None:
            problems += _answer_path_problems(text, ("response", key))
    for key in ("success", "duplicate", "retry", "failed"):
        condition: Condition | None = getattr(response, key)
        if condition is not None:
            problems += _answer_path_problems(condition.path, ("response", key, "path"))
            given = [
                name
                for name, value in (
                    ("equals", condition.equals),
                    ("in", condition.in_),
                    ("exists", condition.exists),
                )
                if not isinstance(value, msgspec.UnsetType)
            ]
            if len(given) != 1:
                problems.append(
                    OptionProblem(("response", key), "give exactly one of equals, in, exists")
                )
    for index, status in enumerate(response.reject_statuses):
        if not 400 <= status <= 499 or status in (408, 409, 425, 429):
            problems.append(
                OptionProblem(
                    ("response", "reject_statuses", index),
                    "a 4xx status other than 408, 409, 425 and 429 (those mean retry or done)",
                )
            )
    for name in parsed.headers:
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            problems.append(OptionProblem(("headers", name), "not a valid header name"))
    if problems:
        return None, problems
    return CompiledMapping(options=parsed, body=body), []


def check_options(options: dict[str, Any]) -> list[OptionProblem]:
    return compile_options(options)[1]


def _answer_path_problems(text: str, at: Path) -> list[OptionProblem]:
    try:
        root, _ = parse_path(text)
    except ValueError as error:
        return [OptionProblem(at, str(error))]
    if root != "$":
        return [OptionProblem(at, "a path into the answer starts with $")]
    return []


def _path_template_problems(path: str) -> list[OptionProblem]:
    if not path.startswith("/"):
        return [OptionProblem(("path",), "starts with / (it follows the supplier's url)")]
    try:
        names = [n for _, n, _, _ in string.Formatter().parse(path) if n is not None]
    except ValueError as error:
        return [OptionProblem(("path",), f"not a valid template: {error}")]
    return [
        OptionProblem(("path",), f"unknown placeholder {{{n}}} (only {{po_id}})")
        for n in names
        if n != "po_id"
    ]


def _auth_problems(auth: Auth | None) -> list[OptionProblem]:
    if auth is None:
        return []
    problems: list[OptionProblem] = []
    if auth.type in ("bearer", "header") and not auth.token:
        problems.append(OptionProblem(("auth", "token"), f"{auth.type} auth needs a token"))
    if auth.type == "header" and not auth.header:
        problems.append(OptionProblem(("auth", "header"), "which header carries the token"))
    if auth.type == "hmac":
        if not auth.secret:
            problems.append(OptionProblem(("auth", "secret"), "hmac auth needs a secret"))
        if not auth.header:
            problems.append(OptionProblem(("auth", "header"), "which header carries the signature"))
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(auth.payload) if n is not None]
        except ValueError as error:
            problems.append(OptionProblem(("auth", "payload"), f"not a valid template: {error}"))
            names = []
        for name in names:
            if name not in SIGN_PLACEHOLDERS:
                problems.append(
                    OptionProblem(
                        ("auth", "payload"),
                        f"unknown placeholder {{{name}}} ({', '.join(SIGN_PLACEHOLDERS)})",
                    )
                )
        if "timestamp" in names and not auth.timestamp_header:
            problems.append(
                OptionProblem(
                    ("auth", "timestamp_header"),
                    "the payload signs {timestamp}: name the header that sends it",
                )
            )
        if "nonce" in names and not auth.nonce_header:
            problems.append(
                OptionProblem(
                    ("auth", "nonce_header"),
                    "the payload signs {nonce}: name the header that sends it",
                )
            )
    return problems


def _type_problems(options: dict[str, Any]) -> list[OptionProblem]:
    """Unknown keys and wrong types, all of them, with their paths (recursing into tables)."""
    problems: list[OptionProblem] = []
    _check_struct(options, MappedOptions, (), problems)
    return problems


def _check_struct(
    value: Any, struct: type[msgspec.Struct], path: Path, problems: list[OptionProblem]
) -> None:
    if not isinstance(value, dict):
        problems.append(OptionProblem(path, "expected a table"))
        return
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    for key in value:
        if key not in fields:
            problems.append(
                OptionProblem((*path, key), f"unknown option (here: {', '.join(fields)})")
            )
    for name, field in fields.items():
        if name not in value:
            if field.required:
                problems.append(OptionProblem((*path, name), "required"))
            continue
        nested = _struct_of(field.type)
        if nested is not None and isinstance(value[name], dict):
            _check_struct(value[name], nested, (*path, name), problems)
            continue
        try:
            msgspec.convert(value[name], field.type, strict=False)
        except msgspec.ValidationError as error:
            message, _, where = str(error).rpartition(" - at `$")
            at: list[str | int] = [*path, name]
            for key, index in re.findall(r"\.([^.\[`]+)|\[(\d+)\]", where.rstrip("`")):
                at.append(int(index) if index else key)
            problems.append(OptionProblem(tuple(at), message or str(error)))


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    candidates = getattr(annotation, "__args__", (annotation,))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None
